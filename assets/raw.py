"""The raw inputs, which Dagster observes but does not build."""

import dagster as dg

from assets import keys

RAW_GROUP = "raw"

asos_raw = dg.AssetSpec(keys.RAW_ASOS, group_name=RAW_GROUP, kinds={"csv"},
                        description="ASOS exports: data_lake/raw/asos/*.csv")
myntra_styles_raw = dg.AssetSpec(keys.RAW_MYNTRA_STYLES, group_name=RAW_GROUP, kinds={"csv"},
                                 description="Myntra 'fashion product images' styles: data_lake/raw/myntra/styles/*.csv")
myntra_catalog_raw = dg.AssetSpec(keys.RAW_MYNTRA_CATALOG, group_name=RAW_GROUP, kinds={"csv"},
                                  description="Myntra products catalog: data_lake/raw/myntra/catalog/*.csv")
myntra_images_raw = dg.AssetSpec(keys.RAW_MYNTRA_IMAGES, group_name=RAW_GROUP, kinds={"jpeg"},
                                 description="Images for the Myntra styles rows: data_lake/raw/myntra/images/<id>.jpg")
events_raw = dg.AssetSpec(keys.RAW_EVENTS, group_name=RAW_GROUP, kinds={"csv", "parquet"},
                          description="Optional real interaction events: data_lake/raw/events/*.csv|*.parquet")

raw_catalog_specs = [asos_raw, myntra_styles_raw, myntra_catalog_raw]
