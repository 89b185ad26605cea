from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing below every other app: the API error shape, pagination bounds, API tokens
    and authentication, file streaming."""

    name = "core"
    verbose_name = "API access"
