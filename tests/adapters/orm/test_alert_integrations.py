"""`AlertIntegration` rows → integrations of the receiver, merged with the setting; the admin keeps secrets."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from alarm_access.access.alert.integrations import integrations_from, parse_integrations
from alarm_access.access.alert.sources import PARSERS
from alarm_access.adapters.orm.alert_integrations import load_alert_integrations
from alarm_access.kernel.errors import ConfigError
from alarm_access.models import AlertIntegration
from alarm_access.models.alerts import ALERT_SOURCES

pytestmark = pytest.mark.django_db(transaction=True)  # the loader drops stale connections


def test_enabled_rows_become_integrations() -> None:
    AlertIntegration.objects.create(name="prom", source="alertmanager", bk_biz_id=2, token="t",
                                    dedupe_keys=["tags.job"])
    AlertIntegration.objects.create(name="off", source="grafana", is_enabled=False)
    found = integrations_from(load_alert_integrations(), "rows", parse_integrations(
        '[{"name": "pd", "source": "pagerduty"}]'))
    assert sorted(found) == ["pd", "prom"]
    assert found["prom"].dedupe_keys == ("tags.job",) and found["prom"].bk_biz_id == 2
    assert found["prom"].plugin_id == "alertmanager.prom"
    with pytest.raises(ConfigError, match="defined twice"):
        integrations_from(load_alert_integrations(), "rows", parse_integrations(
            '[{"name": "prom", "source": "alertmanager"}]'))


def test_model_sources_agree_with_the_parsers() -> None:
    assert set(ALERT_SOURCES) == set(PARSERS)


def test_mapped_rows_compile_their_mapping_and_the_admin_refuses_a_bad_one() -> None:
    AlertIntegration.objects.create(name="tool", source="mapped", mapping={"alert_name": "rule.name"})
    found = integrations_from(load_alert_integrations(), "rows")
    assert found["tool"].mapping is not None and found["tool"].mapping.document == {"alert_name": "rule.name"}
    bad = AlertIntegration(name="bad", source="mapped", mapping={"alert_name": "rule.["})
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert "is not a JMESPath expression" in str(caught.value.message_dict["mapping"])
    with pytest.raises(ValidationError, match="field mapping is required"):
        AlertIntegration(name="none", source="mapped").full_clean()
    AlertIntegration(name="plain", source="grafana").full_clean()  # no mapping: fine for a fixed format
