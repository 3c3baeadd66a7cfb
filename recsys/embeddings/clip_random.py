"""A randomly initialised CLIP checkpoint folder, loadable by ``ClipEncoder`` like a real one.

Random weights cost exactly what trained ones cost, so this measures the CLIP path's
throughput (ViT-B/32 with ``CLIPConfig()``'s defaults) and exercises its loading code without
a model hub. The tokenizer is a byte-level BPE with no merges (every byte one token): the real
CLIP tokenizer's format, with a vocabulary small enough to build offline.
"""

from __future__ import annotations

from pathlib import Path


def byte_level_clip_tokenizer():
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)} | {s + "</w>": len(symbols) + i for i, s in enumerate(symbols)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    return CLIPTokenizer(vocab=vocab, merges=[])


def save_random_clip(folder: Path, text_config: dict | None = None, vision_config: dict | None = None,
                     projection_dim: int = 512, seed: int = 0) -> Path:
    """Write config, random weights and tokenizer to ``folder``; defaults are ViT-B/32's architecture."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    tokenizer = byte_level_clip_tokenizer()
    special = {"bos_token_id": tokenizer.convert_tokens_to_ids("<|startoftext|>"),
               "eos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
               "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>")}
    torch.manual_seed(seed)
    config = CLIPConfig(text_config={**special, **(text_config or {})}, vision_config=vision_config or {},
                        projection_dim=projection_dim)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
