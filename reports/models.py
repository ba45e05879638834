from __future__ import annotations

from django.db import models


class ReportsAccess(models.Model):
    """No table: the anchor of the permission "reports.view_reports" (a permission needs a
    model). Supervisors see the reports anyway (agents.roles); an admin grants the
    permission to a user or a group (admin → Users or Groups → "Can see the reports") to let
    someone else see them without the supervisor's other powers."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can see the reports")]
