from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = "Enqueue again the queued jobs that Redis no longer holds (after a flush, restart or crash)."

    def handle(self, *args, **options):
        self.stdout.write(f"reconcile: {services.jobs_reconcile()} job(s) enqueued")
