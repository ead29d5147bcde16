"""Demo catalog and locations: 2 warehouses and 8 stores in Spanish cities, ~200 products."""

from decimal import Decimal

from django.utils.text import slugify

from inventory.models import (
    Category,
    Location,
    LocationKind,
    MovementKind,
    Product,
    StockLevel,
    StockMovement,
    TaxClass,
    TransferRoute,
    Variant,
)
from omni.roles import STORE_STAFF

WEEKDAYS_10_21 = {d: [["10:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
WITH_SUNDAY = {**WEEKDAYS_10_21, "sun": [["11:00", "20:00"]]}
WAREHOUSE_HOURS = {d: [["06:00", "22:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}

# code, kind, name, address, postal code, city, latitude, longitude, timezone, hours
LOCATIONS = [
    ("wh-getafe", LocationKind.WAREHOUSE, "Almacén Central Getafe",
     "Avenida de las Arcas del Agua 15", "28906", "Getafe", "40.305700", "-3.732900",
     "Europe/Madrid", WAREHOUSE_HOURS),
    ("wh-prat", LocationKind.WAREHOUSE, "Almacén Noreste El Prat",
     "Carrer de la Selva 12", "08820", "El Prat de Llobregat", "41.327500", "2.094700",
     "Europe/Madrid", WAREHOUSE_HOURS),
    ("mad-granvia", LocationKind.STORE, "Tienda Gran Vía", "Gran Vía 32", "28013", "Madrid",
     "40.420000", "-3.702500", "Europe/Madrid", WITH_SUNDAY),
    ("mad-serrano", LocationKind.STORE, "Tienda Serrano", "Calle de Serrano 47", "28001",
     "Madrid", "40.428300", "-3.686600", "Europe/Madrid", WEEKDAYS_10_21),
    ("bcn-passeig", LocationKind.STORE, "Tienda Passeig de Gràcia", "Passeig de Gràcia 55",
     "08007", "Barcelona", "41.392500", "2.164900", "Europe/Madrid", WITH_SUNDAY),
    ("vlc-colon", LocationKind.STORE, "Tienda Colón", "Carrer de Colón 27", "46004", "Valencia",
     "39.469900", "-0.371300", "Europe/Madrid", WEEKDAYS_10_21),
    ("svq-sierpes", LocationKind.STORE, "Tienda Sierpes", "Calle Sierpes 48", "41004", "Sevilla",
     "37.391500", "-5.995200", "Europe/Madrid", WEEKDAYS_10_21),
    ("bio-moyua", LocationKind.STORE, "Tienda Moyúa", "Gran Vía de Don Diego López de Haro 40",
     "48009", "Bilbao", "43.263000", "-2.935000", "Europe/Madrid", WEEKDAYS_10_21),
    ("agp-larios", LocationKind.STORE, "Tienda Larios", "Calle Marqués de Larios 6", "29005",
     "Málaga", "36.719600", "-4.421400", "Europe/Madrid", WITH_SUNDAY),
    ("lpa-triana", LocationKind.STORE, "Tienda Triana", "Calle Mayor de Triana 80", "35002",
     "Las Palmas de Gran Canaria", "28.105000", "-15.416400", "Atlantic/Canary", WEEKDAYS_10_21),
]  # fmt: skip

APPAREL = ["XS", "S", "M", "L", "XL"]
SHOES_W = ["36", "37", "38", "39", "40", "41"]
SHOES_M = ["40", "41", "42", "43", "44", "45"]
KIDS = ["4", "6", "8", "10", "12"]
ONE_SIZE = ["Única"]

# parent, category, sizes, base price, item names, tax class
CATALOG = [
    ("Mujer", "Vestidos", APPAREL, 39.95, ["Vestido midi", "Vestido camisero", "Vestido largo", "Vestido punto"]),
    ("Mujer", "Camisetas mujer", APPAREL, 12.95, ["Camiseta básica", "Top tirantes", "Camiseta rayas", "Blusa fluida"]),
    ("Mujer", "Pantalones mujer", APPAREL, 29.95, ["Vaquero mom", "Pantalón palazzo", "Pantalón recto", "Falda plisada"]),
    ("Mujer", "Calzado mujer", SHOES_W, 45.95, ["Zapatilla urbana", "Botín tacón", "Sandalia plana", "Mocasín piel"]),
    ("Hombre", "Camisas", APPAREL, 29.95, ["Camisa Oxford", "Camisa lino", "Sobrecamisa", "Camisa vaquera"]),
    ("Hombre", "Camisetas hombre", APPAREL, 12.95, ["Camiseta cuello redondo", "Polo piqué", "Camiseta henley", "Sudadera"]),
    ("Hombre", "Pantalones hombre", APPAREL, 35.95, ["Chino slim", "Vaquero regular", "Bermuda", "Jogger"]),
    ("Hombre", "Calzado hombre", SHOES_M, 55.95, ["Deportiva piel", "Bota chelsea", "Náutico", "Zapato blucher"]),
    ("Niños", "Ropa infantil", KIDS, 14.95, ["Camiseta estampada", "Peto vaquero", "Sudadera capucha", "Pantalón chándal"]),
    ("Niños", "Calzado infantil", ["28", "30", "32", "34"], 29.95, ["Zapatilla velcro", "Bota agua", "Sandalia"]),
    ("Accesorios", "Bolsos", ONE_SIZE, 49.95, ["Bolso bandolera", "Mochila", "Cesta playa", "Cartera mano"]),
    ("Accesorios", "Cinturones y gorras", ONE_SIZE, 19.95, ["Cinturón piel", "Gorra béisbol", "Bufanda lana"]),
]  # fmt: skip

FINISHES = ["de algodón orgánico", "edición Mediterráneo", "esencial", "premium", "relaxed"]
COLOURS = ["Negro", "Blanco", "Azul marino", "Beige", "Verde oliva", "Rojo", "Gris", "Camel"]
BRANDS = ["Omni Basics", "Costa Norte", "Atelier Sur"]


def ean13(number: int) -> str:
    """A valid EAN-13 in the Spanish GS1 prefix 84."""
    body = f"84{number:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def seed(ctx) -> None:
    locations = _seed_locations(ctx)
    _seed_catalog(ctx)
    staff = ctx.data.get("users", {}).get(STORE_STAFF)
    if staff is not None:
        locations["mad-granvia"].staff.add(staff)
    ctx.data["locations"] = locations
    _seed_stock(ctx, locations)
    _seed_routes(locations)


def _seed_locations(ctx) -> dict[str, Location]:
    locations = {}
    for code, kind, name, address, postal, city, lat, lon, tz, hours in LOCATIONS:
        store = kind == LocationKind.STORE
        location, _ = Location.objects.update_or_create(
            code=code,
            defaults={
                "kind": kind,
                "name": name,
                "address": address,
                "postal_code": postal,
                "city": city,
                "country": "ES",
                "latitude": Decimal(lat),
                "longitude": Decimal(lon),
                "timezone": tz,
                "opening_hours": hours,
                "is_pickup_point": store,
                "ships_to_customers": not store or code in ("mad-granvia", "bcn-passeig"),
                "sells_online": True,
            },
        )
        locations[code] = location
    ctx.say(f"  {len(locations)} locations")
    return locations


def _seed_catalog(ctx) -> None:
    rng = ctx.rng
    parents = {}
    for parent_name in dict.fromkeys(row[0] for row in CATALOG):
        parents[parent_name], _ = Category.objects.update_or_create(
            slug=slugify(parent_name), defaults={"name": parent_name, "parent": None}
        )
    products, variant_rows = [], []
    for parent_name, name, sizes, base_price, items in CATALOG:
        category, _ = Category.objects.update_or_create(
            slug=slugify(name), defaults={"name": name, "parent": parents[parent_name]}
        )
        for item in items:
            for finish in FINISHES:
                title = f"{item} {finish}"
                slug = slugify(f"{title}-{category.slug}")
                price = Decimal(str(base_price)) + Decimal(rng.choice([0, 5, 10, 15, 20]))
                colours = rng.sample(COLOURS, k=rng.randint(1, 3))
                products.append(
                    Product(
                        slug=slug,
                        name=title,
                        category=category,
                        brand=rng.choice(BRANDS),
                        description=f"{title}. Diseñado en España.",
                        tax_class=TaxClass.STANDARD,
                        active=True,
                    )
                )
                variant_rows.append((slug, sizes, colours, price))
    Product.objects.bulk_create(
        products,
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=["name", "category", "brand", "description", "tax_class", "active"],
    )
    ids = dict(
        Product.objects.filter(slug__in=[p.slug for p in products]).values_list("slug", "pk")
    )
    variants = []
    for product_number, (slug, sizes, colours, price) in enumerate(variant_rows, start=1):
        for colour_number, colour in enumerate(colours):
            for size_number, size in enumerate(sizes):
                sku = f"OM{product_number:04d}-{colour_number}{size_number:02d}"
                gtin = ean13(product_number * 1000 + colour_number * 100 + size_number)
                variants.append(
                    Variant(
                        product_id=ids[slug],
                        sku=sku,
                        gtin=gtin,
                        size=size,
                        colour=colour,
                        price=price,
                        active=True,
                    )
                )
    Variant.objects.bulk_create(
        variants,
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["product", "gtin", "size", "colour", "price", "active"],
        batch_size=500,
    )
    ctx.say(f"  {len(products)} products, {len(variants)} variants")


def _seed_stock(ctx, locations) -> None:
    """Opening stock for every store and warehouse, through the ledger (one receipt per row)."""
    rng = ctx.rng
    existing = set(StockLevel.objects.values_list("location_id", "variant_id"))
    variant_ids = list(Variant.objects.order_by("pk").values_list("pk", flat=True))
    levels, movements = [], []
    for location in locations.values():
        warehouse = location.kind == LocationKind.WAREHOUSE
        for variant_id in variant_ids:
            if (location.pk, variant_id) in existing:
                continue
            if warehouse:
                on_hand, safety, low, high = rng.randint(0, 60), 0, 0, 0
            else:
                low, high = rng.choice([(1, 3), (2, 4), (2, 6)])
                on_hand = rng.choice([0, 0, 1, 1, 2, 3, 4, 5, 8])
                safety = 1 if on_hand >= 3 and rng.random() < 0.3 else 0
            levels.append(
                StockLevel(
                    location=location,
                    variant_id=variant_id,
                    on_hand=on_hand,
                    safety_stock=safety,
                    min_qty=low,
                    max_qty=high,
                )
            )
            if on_hand:
                movements.append(
                    StockMovement(
                        location=location,
                        variant_id=variant_id,
                        kind=MovementKind.RECEIPT,
                        delta=on_hand,
                        balance=on_hand,
                        reference="import:demo-opening-stock",
                        reason="Opening stock",
                    )
                )
    StockLevel.objects.bulk_create(levels, batch_size=2000)
    StockMovement.objects.bulk_create(movements, batch_size=2000)
    ctx.say(f"  {len(levels)} new stock rows, {len(movements)} opening receipts")


def _seed_routes(locations) -> None:
    """Lead times: 1 day from the nearby warehouse, 2 from the other, 4 to the Canaries."""
    for store in locations.values():
        if store.kind != LocationKind.STORE:
            continue
        for code in ("wh-getafe", "wh-prat"):
            warehouse = locations[code]
            near = (code == "wh-prat") == (store.code.startswith(("bcn", "vlc", "bio")))
            days = 4 if store.timezone == "Atlantic/Canary" else (1 if near else 2)
            TransferRoute.objects.update_or_create(
                source=warehouse, destination=store, defaults={"lead_time_days": days}
            )
