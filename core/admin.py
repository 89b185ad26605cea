"""API tokens in the admin (created here, shown once, stored only as a digest) and the external
identities (Supabase users) mapped to local users."""

from django.contrib import admin, messages

from core.auth import api_token_create
from core.models import ApiToken, ExternalIdentity


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            token.pk,
            token.prefix,
            token.digest,
            token.created_at,
        )
        self.message_user(
            request,
            f"Token created. Copy it now, it will not be shown again: {raw}",
            messages.WARNING,
        )


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Created by the first request with a user's access token, never by hand. Deactivate the
    user to refuse their tokens; deleting an identity only makes the next request create a new
    local user."""

    list_display = ("subject", "provider", "user", "created_at", "last_seen_at")
    list_filter = ("provider",)
    search_fields = ("subject", "user__username", "user__email")
    readonly_fields = ("provider", "subject", "user", "created_at", "last_seen_at")

    def has_add_permission(self, request):
        return False
