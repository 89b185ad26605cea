from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = "Requeue (or fail with 'worker lost') processing jobs whose heartbeat is older than EF_HEARTBEAT_TIMEOUT."

    def handle(self, *args, **options):
        counts = services.jobs_rescue_stale()
        self.stdout.write(
            f"rescue: {counts['requeued']} requeued, {counts['failed']} failed (worker lost)"
        )
