"""Item embeddings: image and text vectors of every product in one shared space.

Two encoder backends answer one interface (``Encoder``: encode_texts, encode_images,
dimension, name, version):
- ``LocalEncoder`` (offline default): all-MiniLM-L6-v2 text vectors (384-d) and a small image
  tower trained contrastively on the catalog's own (image, text) pairs into that space
  (``tower_fit.fit_image_tower``);
- ``ClipEncoder``: a Hugging Face CLIP checkpoint (``CLIPModel.from_pretrained``).
``build_item_embeddings`` turns the catalog into features/item_embeddings, reusing every
vector whose content and model are unchanged.
"""

from recsys.embeddings.alignment_metrics import ZERO_SHOT_PROMPT, alignment_report, recall_at_k, zero_shot_accuracy
from recsys.embeddings.clip_backend import DEFAULT_CLIP, ClipCheckpointMissing, ClipEncoder
from recsys.embeddings.contrastive import TowerTrainingParams, train_image_tower
from recsys.embeddings.encoder import Encoder, ImageVectors
from recsys.embeddings.fusion import FusionWeights, fuse
from recsys.embeddings.image_tower import ImageTower, TowerParams
from recsys.embeddings.item_table import EmbeddingBuild, build_item_embeddings, item_embedding_schema
from recsys.embeddings.local_backend import LocalEncoder
from recsys.embeddings.minilm import MiniLMTextEncoder
from recsys.embeddings.product_text import product_text, product_texts
from recsys.embeddings.tower_fit import TowerFit, TowerFitSettings, fit_image_tower, training_pairs

__all__ = [
    "DEFAULT_CLIP", "ZERO_SHOT_PROMPT", "ClipCheckpointMissing", "ClipEncoder", "EmbeddingBuild", "Encoder",
    "FusionWeights", "ImageTower", "ImageVectors", "LocalEncoder", "MiniLMTextEncoder", "TowerParams", "TowerFit",
    "TowerFitSettings", "TowerTrainingParams", "alignment_report", "build_item_embeddings", "fit_image_tower", "fuse",
    "item_embedding_schema", "product_text", "product_texts", "recall_at_k", "train_image_tower", "training_pairs",
    "zero_shot_accuracy",
]
