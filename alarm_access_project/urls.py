"""Admin pages for strategies, hosts, incidents and data sources."""

from django.contrib import admin
from django.urls import path

from alarm_access.status.admin_view import access_status

urlpatterns = [
    # before the admin's own patterns, which would take "access-status/" for an app label
    path("admin/access-status/", admin.site.admin_view(access_status), name="access-status"),
    path("admin/", admin.site.urls),
]
