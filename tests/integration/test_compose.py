"""docker-compose.yml cannot run here (no container engine): check its structure statically.

Services and their start order, healthchecks, pinned images, loopback-only published ports, no
committed secrets, and that every file the stack references exists in the repository.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from jobs.connectors import kafka
from jobs.settings import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERFILE = PROJECT_ROOT / "docker" / "flink" / "Dockerfile"

LONG_RUNNING = {"kafka", "minio", "clickhouse", "jobmanager", "taskmanager", "grafana"}
ONE_SHOT = {"kafka-init", "minio-init", "migrate", "job-submitter"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    assert isinstance(deps, dict), "depends_on must use the long form with a condition"
    return {name: spec["condition"] for name, spec in deps.items()}


def test_services_present(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == LONG_RUNNING | ONE_SHOT


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_one_shot_services_do_not_restart(services: dict[str, dict[str, Any]]) -> None:
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", name


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    assert _depends(services["kafka-init"]) == {"kafka": "service_healthy"}
    assert _depends(services["minio-init"]) == {"minio": "service_healthy"}
    assert _depends(services["migrate"]) == {"clickhouse": "service_healthy"}
    assert _depends(services["jobmanager"]) == {"minio-init": "service_completed_successfully"}
    assert _depends(services["taskmanager"]) == {"jobmanager": "service_healthy"}
    assert _depends(services["grafana"]) == {"clickhouse": "service_healthy"}
    # Jobs start only once the DDL, the topic, the bucket and a TaskManager are all there.
    assert _depends(services["job-submitter"]) == {
        "taskmanager": "service_healthy",
        "migrate": "service_completed_successfully",
        "kafka-init": "service_completed_successfully",
        "minio-init": "service_completed_successfully",
    }


def test_depends_on_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dep in _depends(service):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        if "build" in service:
            continue  # the project's own image, built from a pinned base (below)
        assert ":" in image, f"{name}: image {image!r} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
    assert ":latest" not in COMPOSE.read_text()


def test_published_ports_bind_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            spec = (
                port
                if isinstance(port, str)
                else f"{port.get('host_ip', '')}:{port.get('published')}"
            )
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {port!r} beyond loopback"
    assert published >= 5  # Flink UI, ClickHouse HTTP, MinIO API/console, Kafka for host tools, Grafana


def test_secrets_are_required_not_defaulted() -> None:
    text = COMPOSE.read_text()
    for secret in (
        "MINIO_ROOT_PASSWORD",
        "NETPULSE_S3_SECRET_KEY",
        "CLICKHOUSE_PASSWORD",
        "MINIO_ROOT_USER",
        "NETPULSE_S3_ACCESS_KEY",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        for modifier in uses:
            assert modifier.startswith(":?"), f"${{{secret}{modifier}}} must be required (:?)"
    # No literal credentials in the file.
    assert not re.search(
        r"(?i)(password|secret)[\w.-]*\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}\b", text.replace("${", "")
    ), "a literal secret appears in docker-compose.yml"


def test_env_example_names_every_variable_without_secret_values() -> None:
    compose_vars = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    assert compose_vars <= set(example), (
        f"missing in .env.example: {sorted(compose_vars - set(example))}"
    )
    for key, value in example.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "ACCESS_KEY", "ROOT_USER")):
            assert value == "", f".env.example must not hold a value for {key}"


def test_referenced_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = PROJECT_ROOT / build["context"]
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / build["dockerfile"]).is_file(), (
                f"{name}: {build['dockerfile']} missing"
            )
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).exists(), f"{name}: mounted {source} missing"
        for env_file in service.get("env_file", []) or []:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert (PROJECT_ROOT / path).exists() or path == ".env", (
                f"{name}: env file {path} missing"
            )


def test_named_volumes_are_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_dockerfile_copies_only_existing_sources() -> None:
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"^COPY\s+(?!--from)(?:--\S+\s+)*(.+)\s+\S+$", line.strip())
        if match:
            for source in match.group(1).split():
                assert (PROJECT_ROOT / source).exists(), f"Dockerfile COPY source {source} missing"


def test_dockerfile_pins_flink_to_the_pyflink_version() -> None:
    from importlib.metadata import version

    base = re.search(r"^ARG FLINK_IMAGE=flink:(\S+)$", DOCKERFILE.read_text(), re.M)
    assert base, "FLINK_IMAGE must be pinned in the Dockerfile"
    assert base.group(1).startswith(version("apache-flink") + "-"), (
        f"image Flink {base.group(1)} != apache-flink {version('apache-flink')}: client and "
        "cluster must run the same Flink version"
    )
    assert "java17" in base.group(1)


def test_dockerfile_takes_the_kafka_connector_from_jars_lock() -> None:
    from jobs.ops import jars

    text = DOCKERFILE.read_text()
    assert "jars.py --manifest /tmp/pins/jars.lock urls" in text
    assert "fetch flink-kafka /opt/flink/lib" in text
    assert "sha256sum -c" in text
    # The version must not be repeated anywhere in the image build or the stack.
    connector = jars.get("flink-kafka").jar(kafka.KAFKA_CONNECTOR_ARTIFACT)
    assert connector.version not in text
    assert connector.version not in COMPOSE.read_text()


def test_compose_kafka_image_is_the_locked_kafka_version(compose: dict[str, Any]) -> None:
    from jobs.ops import jars

    # The broker of the tests and the demo (jars.lock) is the broker of the stack.
    locked = jars.get("kafka-broker").jar("org.apache.kafka:kafka_2.13").version
    for service in ("kafka", "kafka-init"):
        assert compose["services"][service]["image"] == f"apache/kafka:{locked}", service


def test_flink_properties_point_state_at_s3(compose: dict[str, Any]) -> None:
    props = dict(line.split(": ", 1) for line in compose["x-flink-properties"].strip().splitlines())
    assert props["execution.checkpointing.dir"].startswith("s3://")
    assert props["execution.checkpointing.savepoint-dir"].startswith("s3://")
    assert props["jobmanager.rpc.address"] == "jobmanager"


def _substituted(value: str) -> str:
    """A compose value with ``${X:-default}`` -> default and ``${X:?...}`` -> ``<X>``."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", value)
    return re.sub(r"\$\{(\w+):\?[^}]*\}", r"<\1>", value)


def test_flink_properties_are_the_rendering_of_the_jobs_s3_settings(compose: dict[str, Any]) -> None:
    """The stack's S3 state keys are what jobs.ops.flink_conf renders for a local cluster from the
    same NETPULSE_* settings (the rendering tests/cluster/test_tor_cluster.py runs on S3)."""
    from jobs import settings
    from jobs.ops import flink_conf

    env = {k: _substituted(str(v)) for k, v in compose["x-netpulse-env"].items()}
    rendered = flink_conf.state_overrides(settings.load(env))
    props = {
        k: _substituted(v)
        for k, v in (
            line.split(": ", 1) for line in compose["x-flink-properties"].strip().splitlines()
        )
    }
    assert rendered["execution.checkpointing.dir"].startswith("s3://netpulse/")
    for key, value in rendered.items():
        assert props[key] == str(value).lower() if isinstance(value, bool) else props[key] == value, key
    assert {k for k in props if k.startswith(("s3.", "execution.checkpointing."))} == set(rendered)


def test_dockerfile_installs_the_s3_plugin_from_jars_lock() -> None:
    from jobs.ops import flink_conf, jars

    text = DOCKERFILE.read_text()
    assert f"fetch {flink_conf.S3_PLUGIN_SET} /opt/flink/plugins/{flink_conf.S3_PLUGIN_DIR}" in text
    assert "/opt/flink/opt/" not in text  # not the base image's unpinned copy
    plugin = jars.get(flink_conf.S3_PLUGIN_SET).jar("org.apache.flink:flink-s3-fs-presto")
    from importlib.metadata import version

    assert plugin.version == version("apache-flink"), "the plugin must match the Flink version"
    assert plugin.file_name not in text and "flink-s3-fs-presto-" not in text  # only the lock names it


def test_scripts_referenced_by_the_stack_exist() -> None:
    assert (PROJECT_ROOT / "docker" / "flink" / "submit-jobs.sh").is_file()
    assert (PROJECT_ROOT / "docker" / "minio" / "init.sh").is_file()


def test_grafana_is_provisioned_with_the_pinned_clickhouse_plugin(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    plugin = grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+", plugin), plugin
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    provisioning = PROJECT_ROOT / mounts["/etc/grafana/provisioning"]
    assert (provisioning / "datasources" / "clickhouse.yaml").is_file()
    providers = yaml.safe_load((provisioning / "dashboards" / "netpulse.yaml").read_text())["providers"]
    # The provider reads the directory the dashboards are mounted at, which holds the dashboard.
    (provider,) = providers
    dashboards = PROJECT_ROOT / mounts[provider["options"]["path"]]
    assert (dashboards / "netpulse.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/netpulse.json"
