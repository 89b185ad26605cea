from django.apps import AppConfig


class EditFactoryConfig(AppConfig):
    name = "editfactory"
    verbose_name = "Edit Factory"
