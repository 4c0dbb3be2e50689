"""Every module that defines tasks, imported so that a worker knows them all."""

from patron.analytics import rfm_tasks
from patron.analytics import rollups as rollup_tasks
from patron.analytics.sales import tasks as report_tasks
from patron.customers import tasks as customer_tasks
from patron.events import tasks as event_tasks
from patron.imports import tasks as import_tasks
from patron.integrations import tasks as integration_tasks
from patron.mail import tasks as mail_tasks
from patron.ops import tasks as ops_tasks
from patron.orders import tasks as order_tasks
from patron.privacy import tasks as privacy_tasks
from patron.segments import tasks as segment_tasks
from patron.webhooks import tasks as webhook_tasks

__all__ = [
    "customer_tasks",
    "event_tasks",
    "import_tasks",
    "integration_tasks",
    "mail_tasks",
    "ops_tasks",
    "order_tasks",
    "privacy_tasks",
    "report_tasks",
    "rfm_tasks",
    "rollup_tasks",
    "segment_tasks",
    "webhook_tasks",
]
