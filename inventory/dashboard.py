"""Admin dashboard panel: stock health per location on a map of Spain, and units per location."""

from django.utils.translation import gettext as _

from inventory.selectors import locations_for_user, stock_health_by_location

# Peninsula and Balearics: lon -9.5..4.5, lat 35.8..43.9. Canaries drawn in an inset.
WIDTH, HEIGHT = 560, 360


def _project(lat: float, lon: float) -> tuple[float, float]:
    if lat < 30:  # Canary Islands inset, bottom left
        return 20 + (lon + 18.5) / 5.0 * 150, HEIGHT - 70 + (29.5 - lat) / 2.0 * 50
    return 20 + (lon + 9.5) / 14.0 * (WIDTH - 40), 20 + (43.9 - lat) / 8.1 * (HEIGHT - 110)


def panel(request):
    if not request.user.has_perm("inventory.view_stocklevel"):
        return None
    rows = list(stock_health_by_location(locations_for_user(request.user)))
    if not rows:
        return None
    biggest = max(row["units"] for row in rows) or 1
    points = []
    for row in rows:
        share = row["below_min"] / row["rows"] if row["rows"] else 0
        colour = "#2f855a" if share < 0.15 else ("#d69e2e" if share < 0.35 else "#c53030")
        entry = {
            **row,
            "below_pct": round(share * 100),
            "colour": colour,
            "bar": round(row["units"] / biggest * 100),
            "radius": 6 + round(row["units"] / biggest * 14),
        }
        if row["latitude"] is not None:
            entry["x"], entry["y"] = (
                round(v, 1) for v in _project(float(row["latitude"]), float(row["longitude"]))
            )
        points.append(entry)
    return {
        "id": "stock-map",
        "title": _("Stock by location"),
        "template": "admin/inventory/dashboard_stock.html",
        "points": points,
        "width": WIDTH,
        "height": HEIGHT,
    }
