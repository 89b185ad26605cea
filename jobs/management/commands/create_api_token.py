from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.auth import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its digest is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to tell tokens apart.")
        parser.add_argument(
            "--quiet", action="store_true", help="Print only the token (for scripts)."
        )

    def handle(self, *args, username, name, quiet, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named '{username}'") from None
        token, raw = api_token_create(user=user, name=name)
        if not quiet:
            self.stdout.write(f"Token '{token.name}' for {user.username} (shown only once):")
        self.stdout.write(raw)
