"""The persona catalogue: fashion styles as preferences over product attributes.

A persona is a set of additive log-affinities over the values of product columns
(``article_type``, ``colour``, ``usage``, ``category``), plus the mix of user genders it draws
and its share of the population. A product's affinity to a persona is the sum of the weights of
its attribute values (unlisted values and nulls weigh 0); :func:`gender_affinity` adds how
well the product's gender fits the shopper's.

Two consumers share this catalogue:
- the interaction simulator (``recsys.interactions.simulator``) draws users from personas and
  perturbs the weights per user;
- the style recommendations (tables stage) use the persona names as ``style`` and
  :func:`affinity` to rank products for a new user who only picks a style and a gender.

The numbers are hand-set from the categories of the Myntra/ASOS sample; they describe the
simulated population, so models never read them (evaluation must not leak them either).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

# The product columns a persona can express preferences over.
PREFERENCE_COLUMNS: tuple[str, ...] = ("article_type", "colour", "usage", "category")

# log-affinity of a product's gender for a shopper's gender. Unknown product genders (ASOS rows)
# are plausible for anyone; kids' and other-gender items are rare but possible (gifts).
GENDER_AFFINITY: dict[str, dict[str | None, float]] = {
    "Men": {"Men": 0.0, "Unisex": -0.3, None: -0.7, "Boys": -3.0, "Unisex Kids": -3.0,
            "Women": -5.0, "Girls": -6.0},
    "Women": {"Women": 0.0, "Unisex": -0.3, None: -0.7, "Girls": -3.0, "Unisex Kids": -3.0,
              "Men": -5.0, "Boys": -6.0},
}
SHOPPER_GENDERS: tuple[str, ...] = tuple(GENDER_AFFINITY)


@dataclass(frozen=True)
class Persona:
    name: str
    description: str
    share: float                                  # prior share of users drawn from this persona
    preferences: Mapping[str, Mapping[str, float]]  # column -> value -> log-affinity
    genders: Mapping[str, float] = field(default_factory=lambda: {"Men": 0.5, "Women": 0.5})

    def weights(self, column: str, vocabulary: list[str]) -> np.ndarray:
        """The persona's weight for each value of ``vocabulary`` (0 where it has no opinion)."""
        prefs = self.preferences.get(column, {})
        return np.array([prefs.get(v, 0.0) for v in vocabulary], dtype=np.float32)


PERSONAS: dict[str, Persona] = {p.name: p for p in (
    Persona(
        "minimal", "Clean lines and neutral colours: basics in black, white, grey and navy.", 0.15,
        {
            "colour": {"Black": 1.5, "White": 1.5, "Grey": 1.2, "Navy Blue": 1.0, "Beige": 1.0, "Off White": 1.0,
                       "Cream": 0.8, "Charcoal": 1.0, "Grey Melange": 0.8, "Pink": -1.0, "Yellow": -1.0,
                       "Orange": -1.0, "Multi": -1.5, "Fluorescent Green": -1.5, "Magenta": -1.0},
            "article_type": {"Tshirts": 1.0, "Shirts": 0.8, "Trousers": 0.8, "Jeans": 0.6, "Casual Shoes": 0.8,
                             "Watches": 0.8, "Sweaters": 0.8, "Coats": 0.8, "Tops": 0.6, "Backpacks": 0.5,
                             "Wallets": 0.5, "Belts": 0.4},
            "usage": {"Casual": 0.5, "Formal": 0.3, "Ethnic": -1.0, "Party": -0.5},
            "category": {"Apparel": 0.3, "Personal Care": -1.0},
        },
    ),
    Persona(
        "casual", "Everyday comfort: tees, denim, sneakers and weekend bags.", 0.25,
        {
            "article_type": {"Tshirts": 1.5, "Jeans": 1.3, "Shorts": 1.0, "Casual Shoes": 1.2, "Sweatshirts": 1.0,
                             "Flip Flops": 0.8, "Caps": 0.6, "Backpacks": 0.6, "Tops": 1.0, "Sandals": 0.6,
                             "Capris": 0.5, "Sunglasses": 0.5},
            "colour": {"Blue": 0.6, "Navy Blue": 0.4, "Red": 0.3, "Green": 0.3, "Multi": 0.3},
            "usage": {"Casual": 1.2, "Formal": -0.8, "Ethnic": -0.5},
            "category": {"Apparel": 0.3, "Footwear": 0.2},
        },
    ),
    Persona(
        "formal", "Office and occasions: shirts, suits, leather shoes and classic accessories.", 0.12,
        {
            "article_type": {"Shirts": 1.5, "Trousers": 1.3, "Formal Shoes": 1.5, "Blazers": 1.5, "Ties": 1.2,
                             "Suits": 1.5, "Cufflinks": 1.0, "Belts": 1.0, "Watches": 1.0, "Heels": 0.8,
                             "Wallets": 0.8, "Laptop Bag": 0.8, "Waistcoat": 0.8, "Handbags": 0.6},
            "colour": {"Black": 0.8, "White": 0.8, "Navy Blue": 0.8, "Grey": 0.6, "Blue": 0.4, "Brown": 0.4,
                       "Maroon": 0.3},
            "usage": {"Formal": 2.0, "Sports": -1.5, "Casual": -0.3},
            "category": {"Accessories": 0.2},
        },
    ),
    Persona(
        "athletic", "Training and sport: running shoes, track pants, gym bags and gear.", 0.15,
        {
            "article_type": {"Sports Shoes": 2.0, "Track Pants": 1.5, "Tshirts": 0.8, "Shorts": 1.0,
                             "Sweatshirts": 0.8, "Caps": 0.8, "Socks": 0.8, "Tracksuits": 1.2, "Backpacks": 0.8,
                             "Sports Sandals": 1.0, "Duffel Bag": 0.8, "Water Bottle": 1.0, "Wristbands": 1.0,
                             "Footballs": 1.0, "Basketballs": 1.0, "Tights": 0.6, "Jackets": 0.5,
                             "Deodorant": 0.5},
            "colour": {"Black": 0.4, "Blue": 0.3, "Red": 0.3, "Fluorescent Green": 0.8, "Orange": 0.4,
                       "White": 0.3},
            "usage": {"Sports": 2.0, "Formal": -1.5, "Ethnic": -1.5},
            "category": {"Sporting Goods": 1.0, "Footwear": 0.4},
        },
        genders={"Men": 0.6, "Women": 0.4},
    ),
    Persona(
        "ethnic", "Indian traditional wear: kurtas, sarees, dupattas and festive jewellery.", 0.10,
        {
            "article_type": {"Kurtas": 2.0, "Kurtis": 1.8, "Sarees": 1.8, "Dupatta": 1.5, "Kurta Sets": 1.5,
                             "Churidar": 1.2, "Salwar": 1.2, "Patiala": 1.0, "Salwar and Dupatta": 1.0,
                             "Lehenga Choli": 1.0, "Nehru Jackets": 1.2, "Earrings": 0.6, "Bangle": 0.8,
                             "Jewellery Set": 0.6, "Flats": 0.6, "Sandals": 0.4, "Clutches": 0.4},
            "colour": {"Red": 0.6, "Maroon": 0.6, "Gold": 0.6, "Yellow": 0.4, "Orange": 0.4, "Pink": 0.4,
                       "Magenta": 0.4, "Multi": 0.4, "Green": 0.3, "Mustard": 0.4},
            "usage": {"Ethnic": 2.0, "Sports": -1.5},
        },
        genders={"Men": 0.25, "Women": 0.75},
    ),
    Persona(
        "party", "Evenings out: dresses, heels, clutches, statement jewellery and make-up.", 0.08,
        {
            "article_type": {"Dresses": 1.5, "Heels": 1.5, "Clutches": 1.5, "Earrings": 1.0,
                             "Necklace and Chains": 1.0, "Lipstick": 1.0, "Lip Gloss": 0.8, "Jumpsuit": 1.0,
                             "Tops": 0.6, "Skirts": 0.8, "Perfume and Body Mist": 0.8,
                             "Highlighter and Blush": 0.6, "Blazers": 0.4, "Ring": 0.6, "Bracelet": 0.6},
            "colour": {"Black": 0.6, "Red": 0.8, "Gold": 0.8, "Silver": 0.8, "Pink": 0.4, "Purple": 0.4,
                       "Metallic": 0.6},
            "usage": {"Party": 2.0, "Formal": 0.2, "Sports": -1.5},
            "category": {"Personal Care": 0.3},
        },
        genders={"Men": 0.15, "Women": 0.85},
    ),
    Persona(
        "outdoor", "Weather and travel: jackets, knits, rucksacks and luggage in earthy tones.", 0.07,
        {
            "article_type": {"Jackets": 1.8, "Coats": 1.2, "Sweaters": 1.2, "Sweatshirts": 0.8, "Rain Jacket": 1.5,
                             "Backpacks": 1.2, "Rucksacks": 1.0, "Trolley Bag": 1.0, "Duffel Bag": 1.0,
                             "Caps": 0.6, "Gloves": 1.0, "Mufflers": 1.0, "Scarves": 0.6, "Casual Shoes": 0.6,
                             "Sunglasses": 0.6, "Sunscreen": 0.8},
            "colour": {"Olive": 0.8, "Green": 0.6, "Brown": 0.6, "Khaki": 0.6, "Grey": 0.4, "Navy Blue": 0.4,
                       "Black": 0.3},
            "usage": {"Travel": 1.5, "Casual": 0.3, "Formal": -1.0},
        },
        genders={"Men": 0.6, "Women": 0.4},
    ),
    Persona(
        "accessories", "Finishing touches: watches, sunglasses, belts, wallets, bags and jewellery.", 0.08,
        {
            "article_type": {"Watches": 2.0, "Sunglasses": 1.5, "Belts": 1.2, "Wallets": 1.2, "Handbags": 1.2,
                             "Cufflinks": 0.8, "Bracelet": 0.8, "Ring": 0.6, "Ties": 0.5,
                             "Perfume and Body Mist": 0.6},
            "colour": {"Brown": 0.6, "Black": 0.4, "Silver": 0.6, "Gold": 0.6, "Steel": 0.8, "Tan": 0.5},
            "category": {"Accessories": 1.0, "Apparel": -0.5},
        },
    ),
)}


def persona_names() -> list[str]:
    return list(PERSONAS)


def gender_affinity(shopper_gender: str, product_genders: pl.Series) -> np.ndarray:
    """log-affinity of each product's gender for a shopper of ``shopper_gender`` ('Men' | 'Women')."""
    if shopper_gender not in GENDER_AFFINITY:
        raise ValueError(f"unknown shopper gender {shopper_gender!r}; expected one of {SHOPPER_GENDERS}")
    table = GENDER_AFFINITY[shopper_gender]
    known = {g: w for g, w in table.items() if g is not None}
    return (product_genders.replace_strict(known, default=table[None], return_dtype=pl.Float32)
            .fill_null(table[None]).to_numpy())


def affinity(persona: Persona | str, products: pl.DataFrame, gender: str | None = None) -> np.ndarray:
    """Each product's affinity to ``persona`` (sum of matching attribute weights), plus the gender
    fit for a shopper of ``gender`` when given. Higher is a better fit; float32, one per row."""
    persona = PERSONAS[persona] if isinstance(persona, str) else persona
    score = np.zeros(products.height, dtype=np.float32)
    for column, prefs in persona.preferences.items():
        if column in products.columns and prefs:
            score += (products[column].replace_strict(dict(prefs), default=0.0, return_dtype=pl.Float32)
                      .fill_null(0.0).to_numpy())
    if gender is not None:
        score += gender_affinity(gender, products["gender"])
    return score
