"""Querysets every owned row shares."""

from django.db import models


class OwnedQuerySet(models.QuerySet):
    """Rows with an `owner`: the API only ever shows a user their own (another's is a 404)."""

    def for_owner(self, user):
        return self.filter(owner=user)
