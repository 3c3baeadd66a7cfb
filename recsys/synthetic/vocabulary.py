"""What synthetic products are made of: article types, colours, brands, patterns and materials.

The article types, colours and usages use the Myntra styles spellings (so the catalog's
article-type enrichment and the interaction personas recognise them); the shares follow the
embedded sample roughly. Each article type names the silhouette its images are drawn with
(``recsys.synthetic.images``), the word ASOS-style names end with, and a price band.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArticleType:
    name: str                        # Myntra articleType, e.g. "Tshirts"
    category: str                    # masterCategory
    subcategory: str                 # subCategory
    noun: str                        # what a product name ends with: "t-shirt", "jeans"
    shape: str                       # silhouette key in recsys.synthetic.images.SHAPES
    genders: tuple[str, ...]         # genders it is sold for
    usages: tuple[str, ...]          # usages it is sold for, most common first
    price_gbp: tuple[float, float]   # price band (ASOS prices; INR prices are ~90x)
    share: float                     # relative frequency in the catalog
    patterned: bool = True           # apparel carries prints and stripes; a watch does not
    features: tuple[str, ...] = ()   # description bullets this kind of product has


MEN_WOMEN = ("Men", "Women")
ALL_GENDERS = ("Men", "Women", "Unisex", "Boys", "Girls")

ARTICLE_TYPES: tuple[ArticleType, ...] = (
    ArticleType("Tshirts", "Apparel", "Topwear", "t-shirt", "tee", ALL_GENDERS, ("Casual", "Sports"), (8, 40), 14,
                features=("crew neck", "short sleeves", "regular fit", "soft cotton jersey", "ribbed neckline")),
    ArticleType("Shirts", "Apparel", "Topwear", "shirt", "shirt", MEN_WOMEN, ("Casual", "Formal"), (18, 70), 7,
                features=("spread collar", "long sleeves", "button placket", "curved hem", "patch pocket")),
    ArticleType("Tops", "Apparel", "Topwear", "top", "top", ("Women", "Girls"), ("Casual", "Party"), (10, 45), 4,
                features=("round neck", "cap sleeves", "relaxed fit", "lightweight fabric")),
    ArticleType("Sweatshirts", "Apparel", "Topwear", "sweatshirt", "longsleeve", ALL_GENDERS, ("Casual", "Sports"),
                (20, 60), 1, features=("ribbed cuffs", "brushed-back fleece", "drop shoulders")),
    ArticleType("Sweaters", "Apparel", "Topwear", "sweater", "longsleeve", MEN_WOMEN, ("Casual",), (22, 80), 1,
                features=("fine knit", "ribbed trims", "crew neck", "long sleeves")),
    ArticleType("Jackets", "Apparel", "Topwear", "jacket", "jacket", MEN_WOMEN, ("Casual", "Sports", "Travel"),
                (35, 150), 1, features=("zip fastening", "side pockets", "stand collar", "padded design")),
    ArticleType("Coats", "Apparel", "Topwear", "coat", "coat", MEN_WOMEN, ("Casual", "Formal"), (50, 200), 0.6,
                features=("notch collar", "button placket", "tie waist", "longline cut")),
    ArticleType("Blazers", "Apparel", "Topwear", "blazer", "jacket", MEN_WOMEN, ("Formal",), (45, 160), 0.5,
                features=("notch lapels", "single-breasted", "flap pockets", "tailored fit")),
    ArticleType("Kurtas", "Apparel", "Topwear", "kurta", "kurta", MEN_WOMEN, ("Ethnic",), (15, 60), 4,
                features=("mandarin collar", "three-quarter sleeves", "straight hem", "calf length")),
    ArticleType("Kurtis", "Apparel", "Topwear", "kurti", "kurta", ("Women",), ("Ethnic",), (12, 45), 1,
                features=("round neck", "flared hem", "printed yoke")),
    ArticleType("Jeans", "Apparel", "Bottomwear", "jeans", "trousers", MEN_WOMEN, ("Casual",), (25, 90), 2,
                features=("five pockets", "mid-rise", "slim fit", "stretch denim", "zip fly")),
    ArticleType("Trousers", "Apparel", "Bottomwear", "trousers", "trousers", MEN_WOMEN, ("Formal", "Casual"),
                (22, 80), 1.5, features=("flat front", "belt loops", "slant pockets", "tapered leg")),
    ArticleType("Track Pants", "Apparel", "Bottomwear", "track pants", "trousers", ALL_GENDERS, ("Sports",),
                (15, 50), 1, features=("elasticated waist", "drawstring", "side stripes", "cuffed ankles")),
    ArticleType("Shorts", "Apparel", "Bottomwear", "shorts", "shorts", ALL_GENDERS, ("Casual", "Sports"), (12, 40), 1.5,
                features=("elasticated waist", "side pockets", "above-knee length")),
    ArticleType("Skirts", "Apparel", "Bottomwear", "skirt", "skirt", ("Women", "Girls"), ("Casual", "Party"),
                (15, 55), 0.5, features=("high waist", "A-line cut", "concealed zip")),
    ArticleType("Dresses", "Apparel", "Dress", "dress", "dress", ("Women", "Girls"), ("Party", "Casual"), (25, 120), 1.5,
                features=("sweetheart neckline", "fitted bodice", "flared skirt", "midi length")),
    ArticleType("Sarees", "Apparel", "Saree", "saree", "saree", ("Women",), ("Ethnic",), (30, 200), 1,
                features=("woven border", "blouse piece", "six-yard drape")),
    ArticleType("Socks", "Apparel", "Innerwear", "socks", "sock", ALL_GENDERS, ("Casual", "Sports"), (4, 15), 1.5,
                features=("cushioned sole", "ribbed cuff", "pack of three")),
    ArticleType("Casual Shoes", "Footwear", "Shoes", "trainers", "shoe", MEN_WOMEN, ("Casual",), (30, 110), 6,
                patterned=False, features=("lace-up fastening", "padded collar", "rubber sole", "round toe")),
    ArticleType("Sports Shoes", "Footwear", "Shoes", "running shoes", "shoe", MEN_WOMEN, ("Sports",), (40, 150), 4.5,
                patterned=False, features=("breathable mesh", "cushioned midsole", "grip outsole")),
    ArticleType("Formal Shoes", "Footwear", "Shoes", "derby shoes", "formal_shoe", ("Men",), ("Formal",), (45, 140),
                1.5, patterned=False, features=("leather upper", "lace-up", "stacked heel")),
    ArticleType("Heels", "Footwear", "Shoes", "heels", "heel", ("Women",), ("Party", "Casual"), (30, 110), 3,
                patterned=False, features=("pointed toe", "stiletto heel", "ankle strap")),
    ArticleType("Flats", "Footwear", "Flip Flops", "flats", "flat", ("Women", "Girls"), ("Casual", "Ethnic"), (18, 60),
                1, patterned=False, features=("slip-on style", "padded insole")),
    ArticleType("Sandals", "Footwear", "Sandal", "sandals", "sandal", MEN_WOMEN, ("Casual",), (18, 70), 2,
                patterned=False, features=("buckle strap", "open toe", "moulded footbed")),
    ArticleType("Flip Flops", "Footwear", "Flip Flops", "flip flops", "flipflop", ALL_GENDERS, ("Casual",), (6, 25),
                2, patterned=False, features=("toe post", "textured footbed")),
    ArticleType("Watches", "Accessories", "Watches", "watch", "watch", MEN_WOMEN, ("Casual", "Formal"), (40, 300), 6,
                patterned=False, features=("analogue dial", "stainless steel case", "water resistant")),
    ArticleType("Handbags", "Accessories", "Bags", "handbag", "bag", ("Women",), ("Casual", "Formal"), (30, 150), 4,
                patterned=False, features=("top handles", "zip closure", "inner pocket")),
    ArticleType("Backpacks", "Accessories", "Bags", "backpack", "backpack", ALL_GENDERS, ("Casual", "Travel"),
                (25, 90), 2, patterned=False, features=("padded straps", "laptop sleeve", "front pocket")),
    ArticleType("Clutches", "Accessories", "Bags", "clutch bag", "clutch", ("Women",), ("Party",), (20, 80), 0.8,
                patterned=False, features=("clasp fastening", "chain strap", "satin lining")),
    ArticleType("Duffel Bag", "Accessories", "Bags", "duffel bag", "duffel", ("Unisex", "Men"), ("Travel", "Sports"),
                (30, 100), 0.4, patterned=False, features=("twin handles", "shoulder strap", "shoe compartment")),
    ArticleType("Trolley Bag", "Accessories", "Bags", "trolley bag", "trolley", ("Unisex",), ("Travel",), (60, 250),
                0.3, patterned=False, features=("four spinner wheels", "telescopic handle", "TSA lock")),
    ArticleType("Wallets", "Accessories", "Wallets", "wallet", "wallet", MEN_WOMEN, ("Casual", "Formal"), (15, 60), 2,
                patterned=False, features=("card slots", "coin pocket", "leather finish")),
    ArticleType("Belts", "Accessories", "Belts", "belt", "belt", MEN_WOMEN, ("Casual", "Formal"), (12, 45), 2,
                patterned=False, features=("pin buckle", "leather strap")),
    ArticleType("Sunglasses", "Accessories", "Eyewear", "sunglasses", "sunglasses", ALL_GENDERS, ("Casual",),
                (15, 150), 2.5, patterned=False, features=("UV protection", "polarised lenses", "metal frame")),
    ArticleType("Caps", "Accessories", "Headwear", "cap", "cap", ALL_GENDERS, ("Casual", "Sports"), (10, 30), 0.8,
                features=("curved peak", "adjustable strap", "embroidered logo")),
    ArticleType("Ties", "Accessories", "Ties", "tie", "tie", ("Men",), ("Formal",), (10, 40), 0.6,
                features=("silk blend", "skinny width")),
    ArticleType("Scarves", "Accessories", "Scarves", "scarf", "scarf", MEN_WOMEN, ("Casual",), (10, 40), 0.4,
                features=("fringed ends", "soft woven fabric")),
    ArticleType("Earrings", "Accessories", "Jewellery", "earrings", "earrings", ("Women",), ("Ethnic", "Party"),
                (6, 40), 1, patterned=False, features=("drop design", "push-back fastening")),
    ArticleType("Necklace and Chains", "Accessories", "Jewellery", "necklace", "necklace", ("Women", "Men"),
                ("Party", "Casual"), (10, 80), 0.4, patterned=False, features=("lobster clasp", "pendant")),
    ArticleType("Ring", "Accessories", "Jewellery", "ring", "ring", ("Women", "Men"), ("Party", "Casual"), (8, 60),
                0.3, patterned=False, features=("polished band", "stone detail")),
    ArticleType("Perfume and Body Mist", "Personal Care", "Fragrance", "eau de parfum", "bottle", MEN_WOMEN,
                ("Casual", "Party"), (20, 90), 1.4, patterned=False, features=("100 ml", "long-lasting", "woody notes")),
    ArticleType("Deodorant", "Personal Care", "Fragrance", "deodorant", "can", MEN_WOMEN, ("Casual", "Sports"),
                (3, 10), 0.8, patterned=False, features=("150 ml", "48-hour protection")),
    ArticleType("Lipstick", "Personal Care", "Lips", "lipstick", "lipstick", ("Women",), ("Party", "Casual"), (5, 30),
                0.7, patterned=False, features=("matte finish", "long wear")),
    ArticleType("Water Bottle", "Sporting Goods", "Sports Accessories", "water bottle", "bottle", ("Unisex",),
                ("Sports",), (6, 25), 0.2, patterned=False, features=("750 ml", "leak-proof lid")),
    ArticleType("Footballs", "Sporting Goods", "Sports Equipment", "football", "ball", ("Unisex",), ("Sports",),
                (10, 40), 0.2, patterned=False, features=("size 5", "machine stitched")),
)

# Colour name (Myntra baseColour) -> RGB used to paint the product, and its share of products.
COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "Black": ((25, 25, 28), 22), "White": ((244, 244, 240), 12), "Blue": ((40, 90, 200), 11),
    "Brown": ((115, 70, 40), 8), "Grey": ((128, 128, 132), 6), "Red": ((200, 30, 40), 5.5),
    "Green": ((40, 140, 60), 5), "Pink": ((240, 130, 170), 4), "Navy Blue": ((20, 30, 90), 4),
    "Purple": ((110, 50, 150), 3.5), "Silver": ((192, 192, 200), 2.5), "Yellow": ((240, 210, 40), 1.8),
    "Beige": ((220, 200, 160), 1.7), "Gold": ((212, 175, 55), 1.4), "Maroon": ((120, 20, 40), 1.3),
    "Orange": ((245, 130, 30), 1.2), "Olive": ((110, 110, 40), 0.9), "Multi": ((170, 90, 160), 0.9),
    "Cream": ((250, 240, 210), 0.9), "Steel": ((150, 160, 170), 0.7), "Charcoal": ((60, 60, 66), 0.5),
    "Peach": ((255, 200, 160), 0.4), "Off White": ((236, 232, 220), 0.4), "Khaki": ((190, 175, 120), 0.3),
    "Magenta": ((210, 30, 140), 0.3), "Teal": ((20, 128, 128), 0.3), "Tan": ((200, 150, 100), 0.3),
    "Mustard": ((220, 170, 30), 0.2), "Fluorescent Green": ((120, 255, 40), 0.1), "Lavender": ((190, 170, 230), 0.3),
}

PATTERNS: tuple[str, ...] = ("Solid", "Striped", "Checked", "Printed", "Polka Dot", "Colourblocked")
PATTERN_SHARES: tuple[float, ...] = (0.5, 0.15, 0.1, 0.15, 0.05, 0.05)

MATERIALS: tuple[str, ...] = ("cotton", "linen blend", "polyester", "viscose", "denim", "wool blend", "leather",
                              "faux leather", "canvas", "silk blend", "modal", "recycled polyester")
FITS: tuple[str, ...] = ("regular fit", "slim fit", "relaxed fit", "oversized", "skinny", "straight")
SEASONS: tuple[str, ...] = ("Summer", "Fall", "Winter", "Spring")
SEASON_SHARES: tuple[float, ...] = (0.48, 0.26, 0.19, 0.07)

# Brands that sell through each source (ASOS carries its own labels; Myntra Indian and global ones).
ASOS_BRANDS: tuple[str, ...] = (
    "ASOS DESIGN", "New Look", "Topshop", "River Island", "Monki", "Weekday", "Mango", "Vero Moda", "Only",
    "Jack & Jones", "Selected Homme", "Collusion", "Reclaimed Vintage", "Nike", "adidas Originals", "Puma",
    "The North Face", "Levi's", "Dr Martens", "Vans", "Converse", "Pieces", "Noisy May", "Bershka",
)
MYNTRA_BRANDS: tuple[str, ...] = (
    "Roadster", "HRX", "Mast & Harbour", "Dressberry", "Anouk", "Libas", "Biba", "W", "Fabindia", "Peter England",
    "Allen Solly", "Van Heusen", "Louis Philippe", "Wrangler", "Lee", "Levis", "Jealous 21", "United Colors of Benetton",
    "Puma", "Nike", "Adidas", "Reebok", "Skechers", "Red Tape", "Woodland", "Titan", "Fastrack", "Fossil", "Casio",
    "Baggit", "Lavie", "Wildcraft", "American Tourister", "Hidesign", "Carlton London", "Inc 5", "Catwalk", "Lakme",
    "Maybelline", "Nivea", "Fogg", "Park Avenue", "Spykar", "Parx", "SHOWOFF", "Raymond", "DKNY", "EthnoVogue",
)
