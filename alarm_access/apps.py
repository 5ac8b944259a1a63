from django.apps import AppConfig


class AlarmAccessConfig(AppConfig):
    name = "alarm_access"
    verbose_name = "alarm access"
    default_auto_field = "django.db.models.BigAutoField"
