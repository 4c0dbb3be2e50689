"""The demo shop's catalog: about sixty products in eight departments, with size and colour
variants, SKUs, prices, stock, a few products on sale, new, archived or still in draft."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from patron.demo_shop.ids import IdMaker

APPAREL_SIZES = ("XS", "S", "M", "L", "XL")
SHOE_SIZES = tuple(str(size) for size in range(37, 46))

# (slug, name, parent slug)
# fmt: off
CATEGORIES: tuple[tuple[str, str, str | None], ...] = (
    ("apparel", "Apparel", None), ("shoes", "Shoes", None),
    ("accessories", "Accessories", None), ("home", "Home & living", None),
    ("beauty", "Beauty & care", None), ("outdoor", "Outdoor", None),
    ("kids", "Kids", None), ("gift-cards", "Gift cards", None),
    ("t-shirts", "T-shirts", "apparel"), ("knitwear", "Sweaters & hoodies", "apparel"),
    ("jackets", "Jackets & coats", "apparel"), ("trousers", "Trousers & jeans", "apparel"),
    ("sneakers", "Sneakers", "shoes"), ("boots", "Boots", "shoes"),
    ("bags", "Bags", "accessories"), ("hats-scarves", "Hats & scarves", "accessories"),
    ("jewellery", "Jewellery", "accessories"), ("kitchen", "Kitchen", "home"),
    ("decor", "Decor", "home"), ("textiles", "Textiles", "home"),
    ("new-arrivals", "New arrivals", None), ("sale", "Sale", None),
    ("bestsellers", "Bestsellers", None),
)

# fmt: on
# title | category | vendor | variant kind | price | popularity | colours
_PRODUCT_TABLE = """
Organic Cotton T-Shirt | t-shirts | Patron Basics | apparel | 24.00 | 30 | White, Black, Navy
Heavyweight Pocket Tee | t-shirts | Patron Basics | apparel | 32.00 | 14 | Ecru, Olive
Striped Breton Top | t-shirts | Maison Lune | apparel | 45.00 | 9 | Navy/White, Red/White
Linen Camp Shirt | t-shirts | Maison Lune | apparel | 69.00 | 7 | Sand, Sky
Merino Crew Sweater | knitwear | Fjord & Field | apparel | 89.00 | 12 | Charcoal, Oatmeal, Forest
Cable Knit Cardigan | knitwear | Fjord & Field | apparel | 119.00 | 6 | Cream, Camel
Fleece Hoodie | knitwear | Patron Basics | apparel | 59.00 | 18 | Grey Melange, Black
Zip-Up Sweatshirt | knitwear | Patron Basics | apparel | 64.00 | 8 | Navy, Bottle Green
Waxed Cotton Jacket | jackets | Fjord & Field | apparel | 189.00 | 5 | Olive, Navy
Down Puffer Coat | jackets | Northwind | apparel | 249.00 | 8 | Black, Stone
Lightweight Rain Shell | jackets | Northwind | apparel | 129.00 | 7 | Yellow, Navy
Wool Overcoat | jackets | Maison Lune | apparel | 299.00 | 3 | Camel, Charcoal
Slim Selvedge Jeans | trousers | Indigo Works | apparel | 98.00 | 11 | Raw Indigo, Washed Blue
Relaxed Chinos | trousers | Patron Basics | apparel | 72.00 | 9 | Khaki, Navy, Black
Corduroy Trousers | trousers | Maison Lune | apparel | 85.00 | 5 | Rust, Brown
Everyday Joggers | trousers | Patron Basics | apparel | 49.00 | 10 | Grey, Black
Classic Leather Sneaker | sneakers | Stride | shoes | 129.00 | 15 | White, Black
Canvas Low-Top | sneakers | Stride | shoes | 65.00 | 12 | Off-White, Navy, Red
Trail Running Shoe | sneakers | Northwind | shoes | 139.00 | 8 | Blue/Orange, Black
Suede Chelsea Boot | boots | Stride | shoes | 179.00 | 6 | Tan, Dark Brown
Waterproof Hiking Boot | boots | Northwind | shoes | 165.00 | 5 | Brown
Leather Weekender Bag | bags | Copper & Co | colour | 229.00 | 4 | Cognac, Black
Canvas Tote | bags | Patron Basics | colour | 29.00 | 16 | Natural, Black, Navy
Roll-Top Backpack | bags | Northwind | colour | 95.00 | 9 | Black, Olive
Crossbody Phone Bag | bags | Copper & Co | colour | 55.00 | 7 | Black, Sand
Ribbed Beanie | hats-scarves | Fjord & Field | colour | 25.00 | 14 | Mustard, Grey, Black
Lambswool Scarf | hats-scarves | Fjord & Field | colour | 49.00 | 8 | Red Check, Grey Check
Baseball Cap | hats-scarves | Patron Basics | colour | 22.00 | 9 | Navy, Stone
Sterling Silver Hoops | jewellery | Copper & Co | single | 39.00 | 6 |
Gold Vermeil Necklace | jewellery | Copper & Co | single | 85.00 | 4 |
Signet Ring | jewellery | Copper & Co | ring | 69.00 | 3 |
Stoneware Mug | kitchen | Hearth | colour | 18.00 | 20 | Speckled White, Sage, Charcoal
Pour-Over Coffee Set | kitchen | Hearth | single | 59.00 | 8 |
Cast Iron Skillet | kitchen | Hearth | single | 75.00 | 6 |
Olive Wood Serving Board | kitchen | Hearth | single | 42.00 | 6 |
Linen Tea Towels (Set of 3) | kitchen | Hearth | colour | 24.00 | 10 | Natural, Stripe
Soy Wax Candle | decor | Hearth | scent | 28.00 | 22 |
Ceramic Vase | decor | Hearth | colour | 49.00 | 7 | White, Terracotta
Framed Botanical Print | decor | Studio Nord | single | 79.00 | 4 |
Wool Throw Blanket | textiles | Fjord & Field | colour | 119.00 | 8 | Grey, Ochre
Linen Duvet Cover | textiles | Maison Lune | bedding | 139.00 | 6 | White, Clay
Cotton Bath Towel | textiles | Hearth | colour | 32.00 | 9 | White, Sage, Sand
Natural Face Cream | beauty | Bloom Botanics | single | 34.00 | 12 |
Shea Hand Balm | beauty | Bloom Botanics | single | 14.00 | 15 |
Cedar Beard Oil | beauty | Bloom Botanics | single | 21.00 | 6 |
Solid Shampoo Bar | beauty | Bloom Botanics | scent | 12.00 | 11 |
Eau de Parfum | beauty | Bloom Botanics | volume | 68.00 | 5 |
Insulated Water Bottle | outdoor | Northwind | colour | 35.00 | 16 | Steel, Forest, Coral
Packable Daypack | outdoor | Northwind | colour | 45.00 | 7 | Black, Orange
Camping Hammock | outdoor | Northwind | single | 59.00 | 4 |
Merino Hiking Socks | outdoor | Fjord & Field | socks | 19.00 | 14 |
Kids' Rain Jacket | kids | Little Fjord | kids | 55.00 | 6 | Yellow, Red
Kids' Organic Tee | kids | Little Fjord | kids | 16.00 | 9 | Blue, Green
Knitted Baby Blanket | kids | Little Fjord | single | 45.00 | 5 |
Wooden Toy Train | kids | Little Fjord | single | 39.00 | 4 |
Gift Card | gift-cards | Patron | gift | 0.00 | 8 |
Recycled Nylon Bucket Hat | hats-scarves | Northwind | colour | 32.00 | 3 | Sage, Black
Alpaca Blend Sweater | knitwear | Fjord & Field | apparel | 139.00 | 3 | Cream, Navy
Retro Runner | sneakers | Stride | shoes | 110.00 | 3 | Grey/Green
Hemp Work Jacket | jackets | Indigo Works | apparel | 149.00 | 2 | Ecru, Black
Classic Trench Coat | jackets | Maison Lune | apparel | 229.00 | 2 | Beige
"""
PRODUCTS: tuple[tuple[str, str, str, str, str, int, tuple[str, ...]], ...] = tuple(
    (title, category, vendor, kind, price, int(popularity),
     tuple(colour.strip() for colour in colours.split(",") if colour.strip()))
    for title, category, vendor, kind, price, popularity, colours in (
        (field.strip() for field in line.split("|")) for line in _PRODUCT_TABLE.strip().splitlines()
    )
)  # fmt: skip
NEW_PRODUCTS = 5  # the last products arrived in the last weeks
ARCHIVED = ("Framed Botanical Print", "Camping Hammock")
DRAFTS = ("Classic Trench Coat",)

OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "ring": (("52", "0.00"), ("54", "0.00"), ("56", "0.00"), ("58", "0.00")),
    "scent": (("Fig & Cedar", "0.00"), ("Sea Salt", "0.00"), ("Amber", "0.00")),
    "volume": (("30 ml", "0.00"), ("50 ml", "24.00"), ("100 ml", "52.00")),
    "bedding": (("135 × 200 cm", "0.00"), ("155 × 220 cm", "20.00"), ("200 × 200 cm", "40.00")),
    "socks": (("36-38", "0.00"), ("39-42", "0.00"), ("43-46", "0.00")),
    "kids": (("2-3 years", "0.00"), ("4-5 years", "0.00"), ("6-7 years", "0.00")),
    "gift": (("25", "25.00"), ("50", "50.00"), ("100", "100.00")),
}


@dataclass(frozen=True)
class Sellable:
    """A variant as the order generator sees it."""

    variant_id: object
    product_id: object
    title: str
    variant_title: str
    sku: str
    price: Decimal
    department: str  # top-level category slug
    returnable: bool  # clothes and shoes come back more often; gift cards never
    available_from: datetime
    available_until: datetime | None


@dataclass
class Catalog:
    rows: dict[str, list[tuple[object, ...]]]
    sellables: list[Sellable]
    category_names: dict[str, str]


def _variants(kind: str, colours: tuple[str, ...]) -> list[tuple[str, str, Decimal]]:
    """(title, sku suffix, price delta) of each variant of a product."""

    def code(text: str) -> str:
        return "".join(word[:3] for word in text.upper().replace("/", " ").split())[:6]

    if kind in {"apparel", "shoes"}:
        sizes = APPAREL_SIZES if kind == "apparel" else SHOE_SIZES
        return [
            (f"{colour} / {size}", f"{code(colour)}-{size}", Decimal(0))
            for colour in colours
            for size in sizes
        ]
    if kind == "kids":
        return [
            (f"{colour} / {age}", f"{code(colour)}-{age[0]}Y", Decimal(0))
            for colour in colours
            for age, _ in OPTIONS["kids"]
        ]
    if kind == "colour":
        return [(colour, code(colour), Decimal(0)) for colour in colours]
    if kind in OPTIONS:
        return [(title, code(title) or title, Decimal(delta)) for title, delta in OPTIONS[kind]]
    return [("Default", "", Decimal(0))]


def build_catalog(
    rng: random.Random, ids: IdMaker, *, now: datetime, currency: str, channel_id: object
) -> Catalog:
    """Rows for category, product, product_variant, product_category, product_external_id."""
    opened = now - timedelta(days=800)
    rows: dict[str, list[tuple[object, ...]]] = {
        "category": [],
        "product": [],
        "product_variant": [],
        "product_category": [],
        "product_external_id": [],
    }
    category_ids: dict[str, object] = {}
    for slug, name, parent in CATEGORIES:
        category_ids[slug] = ids.at(opened)
        parent_id = category_ids[parent] if parent else None
        rows["category"].append((category_ids[slug], name, slug, parent_id, opened))
    parents = {slug: parent or slug for slug, _, parent in CATEGORIES}
    sellables: list[Sellable] = []
    external = 8_100_000_000
    for index, (title, category, vendor, kind, price, popularity, colours) in enumerate(PRODUCTS):
        is_new = index >= len(PRODUCTS) - NEW_PRODUCTS
        created = now - timedelta(days=rng.randint(5, 45)) if is_new else opened
        status = "archived" if title in ARCHIVED else "draft" if title in DRAFTS else "active"
        until = now - timedelta(days=rng.randint(120, 300)) if status == "archived" else None
        product_id = ids.at(created)
        handle = "-".join(title.lower().replace("'", "").replace("(", "").replace(")", "").split())
        on_sale = rng.random() < 0.12 and not is_new and kind != "gift"
        tags = [kind] if kind in {"gift"} else []
        if on_sale:
            tags.append("sale")
        if is_new:
            tags.append("new")
        department = parents[category]
        description = f"{title} by {vendor}. Made to last, designed to be loved."
        rows["product"].append(
            (product_id, title, handle, description, vendor,
             category.replace("-", " ").title(), status, tags, [], {}, created, created)
        )  # fmt: skip
        links = {category, department}
        if on_sale:
            links.add("sale")
        if is_new:
            links.add("new-arrivals")
        if popularity >= 15:
            links.add("bestsellers")
        for slug in sorted(links):
            rows["product_category"].append((product_id, category_ids[slug]))
        external += rng.randint(1, 900)
        rows["product_external_id"].append(
            (ids.at(created), channel_id, "product", str(external), product_id, None)
        )
        prefix = "".join(word[0] for word in handle.split("-") if word)[:4].upper()
        sku_base = f"{prefix}{index + 1:03d}"
        for position, (variant_title, suffix, delta) in enumerate(_variants(kind, colours)):
            variant_id = ids.at(created)
            variant_price = Decimal(price) + delta
            compare_at = (variant_price * Decimal("1.3")).quantize(Decimal(1)) if on_sale else None
            sku = f"{sku_base}-{suffix}" if suffix else sku_base
            stock = 0 if rng.random() < 0.05 else rng.choice((2, 3, 4, rng.randint(6, 240)))
            if kind == "gift":
                stock = 9999
            rows["product_variant"].append(
                (variant_id, product_id, variant_title, sku, variant_price, compare_at, currency,
                 stock, "active" if status != "archived" else "inactive", position, created,
                 created)
            )  # fmt: skip
            external += 1
            rows["product_external_id"].append(
                (ids.at(created), channel_id, "variant", str(external), product_id, variant_id)
            )
            if status == "draft":
                continue
            sellables.extend(
                [
                    Sellable(
                        variant_id=variant_id,
                        product_id=product_id,
                        title=title,
                        variant_title="" if variant_title == "Default" else variant_title,
                        sku=sku,
                        price=variant_price,
                        department=department,
                        returnable=department in {"apparel", "shoes", "accessories"},
                        available_from=created,
                        available_until=until,
                    )
                ]
                * max(1, popularity // max(1, len(colours or "x")))
            )
    names = {slug: name for slug, name, _ in CATEGORIES}
    return Catalog(rows=rows, sellables=sellables, category_names=names)
