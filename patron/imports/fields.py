"""The Patron fields a file column can map to, per entity, and the presets that map the
common exports (Shopify, HubSpot, Mailchimp, the Patron format) automatically."""

from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE = ""  # a column mapped to nothing is not read


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    help: str = ""


CUSTOMER_FIELDS: tuple[Field, ...] = (
    Field("email", "Email", "Required when matching by email"),
    Field("first_name", "First name"),
    Field("last_name", "Last name"),
    Field("full_name", "Full name (split into first and last)"),
    Field("phone", "Phone", "National numbers use the row's country"),
    Field("company", "Company"),
    Field("birthday", "Birthday", "ISO (1990-05-31) or day/month/year"),
    Field("locale", "Locale", "e.g. en, de-AT"),
    Field("tags", "Tags", "Comma-separated; added to existing tags"),
    Field("address_line1", "Address line 1"),
    Field("address_line2", "Address line 2"),
    Field("city", "City"),
    Field("region", "Region / state / province"),
    Field("postal_code", "Postal code"),
    Field("country", "Country", "ISO code or English name"),
    Field("email_consent", "Email marketing consent", "yes/no, subscribed/unsubscribed, pending"),
    Field("email_consent_at", "Email consent time", "When the consent was given"),
    Field("sms_consent", "SMS marketing consent", "yes/no, subscribed/unsubscribed, pending"),
    Field("external_id", "External ID", "The customer's ID in the source system"),
    Field("source", "Source"),
    Field("lifecycle_stage", "Lifecycle stage", "Sets the stage by hand"),
    Field("note", "Note (ignored)", "Read but not imported"),
)

PRODUCT_FIELDS: tuple[Field, ...] = (
    Field("handle", "Handle", "Groups the rows (variants) of one product"),
    Field("title", "Title"),
    Field("description", "Description"),
    Field("vendor", "Vendor"),
    Field("product_type", "Product type"),
    Field("category", "Category"),
    Field("tags", "Tags"),
    Field("status", "Status", "active, draft or archived"),
    Field("variant_title", "Variant title"),
    Field("option1", "Option 1 value"),
    Field("option2", "Option 2 value"),
    Field("option3", "Option 3 value"),
    Field("sku", "SKU"),
    Field("price", "Price"),
    Field("compare_at_price", "Compare-at price"),
    Field("currency", "Currency"),
    Field("inventory", "Inventory quantity"),
    Field("image_url", "Image URL(s)", "Several separated by commas"),
    Field("external_id", "External ID"),
)

ORDER_FIELDS: tuple[Field, ...] = (
    Field("number", "Order number", "Rows with the same number are one order"),
    Field("email", "Customer email"),
    Field("customer_name", "Customer name"),
    Field("placed_at", "Placed at"),
    Field("currency", "Currency"),
    Field("financial_status", "Financial status"),
    Field("fulfillment_status", "Fulfilment status"),
    Field("subtotal", "Subtotal"),
    Field("discount_total", "Discount total"),
    Field("shipping_total", "Shipping total"),
    Field("tax_total", "Tax total"),
    Field("total", "Total"),
    Field("discount_codes", "Discount codes"),
    Field("line_sku", "Line SKU"),
    Field("line_title", "Line title"),
    Field("line_quantity", "Line quantity"),
    Field("line_unit_price", "Line unit price"),
    Field("note", "Note"),
    Field("tags", "Tags"),
    Field("external_id", "External ID"),
)

ENTITY_FIELDS: dict[str, tuple[Field, ...]] = {
    "customers": CUSTOMER_FIELDS,
    "products": PRODUCT_FIELDS,
    "orders": ORDER_FIELDS,
}
CUSTOM_PREFIX = "custom."
CUSTOM_FIELD_ENTITY = {"customers": "customer", "products": "product", "orders": "order"}


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    entity: str
    columns: dict[str, str]  # normalised header -> field
    channel: str = ""  # external IDs belong to this channel
    channel_kind: str = "import"
    consent_default: str = ""  # email consent of rows without a consent column
    notes: str = ""


def normalise_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


def _cols(pairs: dict[str, str]) -> dict[str, str]:
    return {normalise_header(header): field for header, field in pairs.items()}


PATRON_CUSTOMERS = _cols({f.key: f.key for f in CUSTOMER_FIELDS})
PATRON_PRODUCTS = _cols({f.key: f.key for f in PRODUCT_FIELDS})
PATRON_ORDERS = _cols({f.key: f.key for f in ORDER_FIELDS})

PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset("patron", "Patron format", "customers", PATRON_CUSTOMERS, channel="Import"),
        Preset(
            "shopify",
            "Shopify customers export",
            "customers",
            _cols(
                {
                    "Customer ID": "external_id",
                    "First Name": "first_name",
                    "Last Name": "last_name",
                    "Email": "email",
                    "Accepts Email Marketing": "email_consent",
                    "Default Address Company": "company",
                    "Company": "company",
                    "Default Address Address1": "address_line1",
                    "Address1": "address_line1",
                    "Default Address Address2": "address_line2",
                    "Address2": "address_line2",
                    "Default Address City": "city",
                    "City": "city",
                    "Default Address Province Code": "region",
                    "Province Code": "region",
                    "Default Address Country Code": "country",
                    "Country Code": "country",
                    "Default Address Zip": "postal_code",
                    "Zip": "postal_code",
                    "Phone": "phone",
                    "Accepts SMS Marketing": "sms_consent",
                    "Tags": "tags",
                    "Note": "note",
                }
            ),
            channel="Shopify",
            channel_kind="shopify",
            notes="Total Spent, Total Orders and Tax Exempt are not imported: metrics come "
            "from orders.",
        ),
        Preset(
            "hubspot",
            "HubSpot contacts export",
            "customers",
            _cols(
                {
                    "Record ID": "external_id",
                    "Contact ID": "external_id",
                    "First Name": "first_name",
                    "Last Name": "last_name",
                    "Email": "email",
                    "Phone Number": "phone",
                    "Mobile Phone Number": "phone",
                    "Company Name": "company",
                    "Street Address": "address_line1",
                    "City": "city",
                    "State/Region": "region",
                    "Country/Region": "country",
                    "Postal Code": "postal_code",
                    "Marketing contact status": "email_consent",
                    "Lifecycle Stage": "lifecycle_stage",
                    "Date of birth": "birthday",
                    "Preferred language": "locale",
                }
            ),
            channel="HubSpot",
            notes="A HubSpot lifecycle stage sets Patron's stage by hand (subscriber and lead "
            "become lead, opportunity becomes prospect, customer stays customer).",
        ),
        Preset(
            "mailchimp",
            "Mailchimp audience export",
            "customers",
            _cols(
                {
                    "Email Address": "email",
                    "First Name": "first_name",
                    "Last Name": "last_name",
                    "Address": "note",
                    "Phone Number": "phone",
                    "Birthday": "birthday",
                    "OPTIN_TIME": "email_consent_at",
                    "TAGS": "tags",
                    "LEID": "external_id",
                    "EUID": "external_id",
                    "CC": "country",
                }
            ),
            channel="Mailchimp",
            consent_default="subscribed",
            notes="Everyone in an audience export of subscribed members is imported as "
            "subscribed to email (OPTIN_TIME is kept as the consent time); the combined Address, "
            "MEMBER_RATING and the location columns are not imported.",
        ),
        Preset("patron_products", "Patron format", "products", PATRON_PRODUCTS, "Import"),
        Preset(
            "shopify_products",
            "Shopify products export",
            "products",
            _cols(
                {
                    "Handle": "handle",
                    "Title": "title",
                    "Body (HTML)": "description",
                    "Vendor": "vendor",
                    "Type": "product_type",
                    "Product Category": "category",
                    "Tags": "tags",
                    "Status": "status",
                    "Option1 Value": "option1",
                    "Option2 Value": "option2",
                    "Option3 Value": "option3",
                    "Variant SKU": "sku",
                    "Variant Price": "price",
                    "Variant Compare At Price": "compare_at_price",
                    "Variant Inventory Qty": "inventory",
                    "Image Src": "image_url",
                }
            ),
            channel="Shopify",
            channel_kind="shopify",
        ),
        Preset("patron_orders", "Patron format", "orders", PATRON_ORDERS, "Import"),
        Preset(
            "shopify_orders",
            "Shopify orders export",
            "orders",
            _cols(
                {
                    "Name": "number",
                    "Email": "email",
                    "Billing Name": "customer_name",
                    "Created at": "placed_at",
                    "Currency": "currency",
                    "Financial Status": "financial_status",
                    "Fulfillment Status": "fulfillment_status",
                    "Subtotal": "subtotal",
                    "Discount Amount": "discount_total",
                    "Discount Code": "discount_codes",
                    "Shipping": "shipping_total",
                    "Taxes": "tax_total",
                    "Total": "total",
                    "Lineitem sku": "line_sku",
                    "Lineitem name": "line_title",
                    "Lineitem quantity": "line_quantity",
                    "Lineitem price": "line_unit_price",
                    "Notes": "note",
                    "Tags": "tags",
                    "Id": "external_id",
                }
            ),
            channel="Shopify",
            channel_kind="shopify",
        ),
    )
}

# Headers that identify an export: a file holding them picks that preset automatically.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "shopify": ("accepts email marketing", "default address address1", "total spent"),
    "hubspot": ("marketing contact status", "lifecycle stage", "record id", "country region"),
    "mailchimp": ("email address", "member rating", "optin time", "leid"),
    "shopify_products": ("variant sku", "variant price", "body html"),
    "shopify_orders": ("lineitem name", "financial status", "lineitem quantity"),
}


def fields_for(entity: str) -> tuple[Field, ...]:
    return ENTITY_FIELDS[entity]


def presets_for(entity: str) -> list[Preset]:
    return [preset for preset in PRESETS.values() if preset.entity == entity]


def guess_preset(entity: str, headers: list[str]) -> str:
    """The preset whose signature headers the file holds most of (at least two)."""
    present = {normalise_header(h) for h in headers}
    best, best_hits = "", 1
    for key, signature in SIGNATURES.items():
        if PRESETS[key].entity != entity:
            continue
        hits = sum(1 for header in signature if header in present)
        if hits > best_hits:
            best, best_hits = key, hits
    if best:
        return best
    return next(p.key for p in presets_for(entity) if p.key.startswith("patron"))


def auto_mapping(
    entity: str, headers: list[str], preset_key: str, custom_keys: set[str] | None = None
) -> dict[str, str]:
    """Header -> field for every header the preset (or the field names) recognise.

    A field is mapped once: the first header that claims it wins.
    """
    preset = PRESETS.get(preset_key)
    columns = dict(preset.columns) if preset and preset.entity == entity else {}
    for known in fields_for(entity):
        columns.setdefault(normalise_header(known.key), known.key)
        columns.setdefault(normalise_header(known.label), known.key)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        normal = normalise_header(header)
        target = columns.get(normal, "")
        if not target and custom_keys:
            key = normal.replace(" ", "_").removeprefix("custom_")
            if key in custom_keys:
                target = CUSTOM_PREFIX + key
        if target and target not in taken:
            mapping[header] = target
            taken.add(target)
    return mapping


def valid_targets(entity: str, custom_keys: set[str]) -> set[str]:
    return {f.key for f in fields_for(entity)} | {CUSTOM_PREFIX + k for k in custom_keys}
