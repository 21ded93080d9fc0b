from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    return mapping.get(key, 0)


@register.filter
def minutes(value) -> str:
    return "—" if value is None else f"{value:.1f}"
