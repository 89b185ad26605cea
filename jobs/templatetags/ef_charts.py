"""The dashboard charts' bars as one block of SVG, written in Python: a 24-hour chart per minute
has thousands of bars, and the template language renders each attribute of each bar at a cost
that, summed, took the dashboard past its 200 ms (bench/admin_scale.py)."""

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def chart_bars(chart: dict, bar_class: str):
    """<rect> per bar of a jobs.dashboard_charts.bar_chart, with its <title>."""
    css = escape(bar_class)
    return mark_safe(  # noqa: S308 - every value below is a number or escaped
        "".join(
            f'<rect class="{css}" data-series="{escape(bar["series"])}" '
            f'data-value="{escape(bar["value"])}" x="{bar["x"]}" y="{bar["y"]}" '
            f'width="{bar["w"]}" height="{bar["h"]}" fill="{escape(bar["color"])}">'
            f"<title>{escape(bar['title'])}</title></rect>"
            for bar in chart["bars"]
        )
    )
