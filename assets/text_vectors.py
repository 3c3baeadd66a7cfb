"""features/text_vectors: the product texts' vectors, encoded beside the image tower's training."""

import dagster as dg

from assets import keys
from assets.embeddings import GROUP
from recsys.embeddings.text_vectors import build_text_vectors
from resources import LakeResource
from resources.encoders import EncoderResource


@dg.asset(
    code_version="2026-12-07",
    key=keys.TEXT_VECTORS,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS],
    kinds={"pytorch", "parquet"},
    description="features/text_vectors.parquet: one L2-normalized vector per distinct product text (text_key, "
                "text_encoder, text_vector), from the encoder's text side (all-MiniLM-L6-v2 locally, CLIP's text "
                "model with the clip backend). It needs no image tower, so it runs beside models/image_tower; "
                "features/item_embeddings reads it instead of encoding texts. Incremental: only new texts are encoded.",
)
def text_vectors(context: dg.AssetExecutionContext, lake: LakeResource,
                 encoder: EncoderResource) -> dg.MaterializeResult:
    model = encoder.text_model()
    build = build_text_vectors(lake.read(keys.SILVER_PRODUCTS), model, lake.read_if_exists(keys.TEXT_VECTORS))
    lake.write(build.table, keys.TEXT_VECTORS)
    context.log.info("text vectors: %d texts, encoded %d, reused %d, %.1fs", build.table.height, build.encoded,
                     build.reused, build.seconds)
    return dg.MaterializeResult(metadata={
        "texts": build.table.height, "texts_encoded": build.encoded, "texts_reused": build.reused,
        "texts_per_second": round(build.texts_per_second, 1), "seconds": round(build.seconds, 1),
        "text_encoder": model.encoder_id,
        "path": dg.MetadataValue.path(str(lake.table_path(keys.TEXT_VECTORS)))})
