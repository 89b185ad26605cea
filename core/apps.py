from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing below every other app: the API error shape, pagination bounds, API tokens
    and authentication, file streaming."""

    name = "core"
    verbose_name = "API access"

    def ready(self):
        from django.core import checks

        from core.checks import storage_check

        checks.register(storage_check, "storage")
