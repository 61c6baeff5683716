"""Prometheus and Grafana: promtool checks the config, the rules and their unit tests, and the
dashboard's queries."""

from __future__ import annotations

import json

import yaml

from deploy_files import DEPLOY, run, tfserving_message, tool


def test_promtool_config_and_rules():
    promtool = tool("promtool")
    run(promtool, "check", "config", "deploy/prometheus/prometheus.yml")
    run(promtool, "check", "rules", "deploy/prometheus/alerts.yml")


def test_promtool_rule_unit_tests():
    run(tool("promtool"), "test", "rules", "deploy/prometheus/alerts_test.yml",
        "deploy/prometheus/alerts_retrain_test.yml")


def test_alerts_cover_the_issue():
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}
    assert "up{job=\"faceid-service\"}" in alerts["FaceidServiceDown"]
    assert "status=~\"5..\"" in alerts["FaceidHighErrorRate"]
    assert "histogram_quantile(0.99" in alerts["FaceidHighLatencyP99"]
    assert "faceid_model_published_timestamp_seconds" in alerts["FaceidNoSuccessfulRetrain"]
    assert "faceid_model_server_errors_total" in alerts["FaceidModelServerNotReady"]
    assert "up{job=\"tfserving\"}" in alerts["TFServingDown"]


def test_prometheus_scrapes_service_and_tfserving():
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["faceid-service"]["static_configs"][0]["targets"] == ["service:8000"]
    assert jobs["tfserving"]["static_configs"][0]["targets"] == ["tfserving:8501"]
    assert jobs["tfserving"]["metrics_path"] == tfserving_message(
        "monitoring.config", "MonitoringConfig").prometheus_config.path


def test_grafana_dashboard_queries_parse(tmp_path):
    dashboard = json.loads((DEPLOY / "grafana/dashboards/faceid.json").read_text())
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        exprs += [target["expr"] for target in panel["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(yaml.safe_dump(rules))
    run(tool("promtool"), "check", "rules", str(rule_file))
