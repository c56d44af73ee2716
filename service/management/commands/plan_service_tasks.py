"""Run the student-service clock once (the beat runs it every 5 minutes)."""

from django.core.management.base import BaseCommand

from service.planner import service_plan


class Command(BaseCommand):
    help = "Make the homeroom teachers' service tasks that are due, remind, ask, close and escalate."

    def handle(self, *args, **options) -> None:
        result = service_plan()
        for name, value in result.as_dict().items():
            self.stdout.write(f"{name}: {value}")
