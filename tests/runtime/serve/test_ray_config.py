"""The Ray Serve application's sizing and its ``serve run`` config, without starting Ray (these run
in the default suite; they skip where Ray is not installed)."""

from __future__ import annotations

import pytest
from testdata import ROOT

from facert.errors import UsageError
from facert.serve.ray_app import Sizing, local_sizing

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's, on pydantic 2
CONFIG = ROOT / "runtime" / "serve" / "ray_serve.yaml"


@pytest.mark.parametrize(
    ("replicas", "cores", "threads", "expected"),
    [
        (1, 2, 0, Sizing(1, 2.0, 2)),  # one replica: every core, one thread per core
        (2, 2, 0, Sizing(2, 1.0, 1)),  # two replicas on two cores: one each
        (4, 2, 0, Sizing(4, 0.5, 1)),  # more replicas than cores: half a core, still a thread
        (2, 16, 0, Sizing(2, 8.0, 8)),
        (2, 16, 3, Sizing(2, 8.0, 3)),  # FACERT_THREADS says otherwise
    ],
)
def test_local_sizing_shares_the_cores(
    replicas: int, cores: int, threads: int, expected: Sizing
) -> None:
    assert local_sizing(replicas, cores, threads) == expected


def test_zero_replicas_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--replicas must be at least 1, got 0"):
        local_sizing(0, 2)


def test_the_documented_config_is_valid_and_builds() -> None:
    """runtime/serve/ray_serve.yaml passes Serve's own schema (what `serve run` checks), and its
    import path builds the application with the replica options it asks for."""
    pytest.importorskip("ray.serve")
    import yaml  # Ray's own dependency
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from facert.serve.ray_app import app_builder

    document = yaml.safe_load(CONFIG.read_text())
    schema = ServeDeploySchema.model_validate(document)
    (application,) = schema.applications
    assert application.import_path == "facert.serve.ray_app:app_builder"
    built = app_builder(application.args)
    assert isinstance(built, Application)
    replica = built._bound_deployment.init_args[0]._bound_deployment  # the ingress's argument
    assert replica.name == "RestorerReplica" and replica.num_replicas == 4
    assert replica.ray_actor_options["num_cpus"] == 4
    assert replica.init_args[0].threads == 4 and replica.init_args[1].models == ("ispl", "wipa")


def test_an_unknown_config_arg_is_a_usage_error() -> None:
    pytest.importorskip("ray.serve")
    from facert.serve.ray_app import app_builder

    with pytest.raises(UsageError, match="unknown args replica"):
        app_builder({"replica": 2})
