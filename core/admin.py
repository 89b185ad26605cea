"""API tokens in the admin (created here, shown once, stored only as a digest) and the external
identities (Supabase users) mapped to local users."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

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
        # core.auth brings the API's authentication (ninja, httpx, PyJWT: ~15 MB): imported when
        # a token is made, not by every process that loads the admin (workers do, at setup).
        from core.auth import api_token_create

        token, raw = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            token.pk,
            token.prefix,
            token.digest,
            token.created_at,
        )
        request.ef_new_token = raw  # shown by response_add, on this one page

    def response_add(self, request, obj, post_url_continue=None):
        """The new token, once, on a page rendered here: never in a cookie (Django's messages
        travel in a signed but readable cookie), never cached."""
        raw = getattr(request, "ef_new_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "raw_token": raw,
        }
        response = TemplateResponse(request, "admin/core/apitoken/created.html", context)
        add_never_cache_headers(response)
        return response


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
