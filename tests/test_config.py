"""The one config parser: nested dataclasses, dotted keys, help from the dataclass, one-line errors."""

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from reverie.config import build_config, config_keys, config_record, current_keys, field_help, one_of, variant_name
from reverie.errors import UserError


@dataclass
class Sampler:
    """A nested group of settings."""

    temperature: float = 0.5  # softmax temperature
    # how many samples per step,
    # over two comment lines
    samples: int = 100
    kind: str = field(default="gauss", metadata={"choices": ("gauss", "uniform"), "help": "from metadata"})

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError("config key 'sampler.temperature' must be > 0")


@dataclass
class Agent:
    horizon: int = 15  # steps looked ahead
    verbose: bool = False
    # written below its field

    sampler: Sampler = field(default_factory=Sampler)  # the planner's sampler

    RENAMED: ClassVar[dict] = {"planning_horizon": "horizon", "temp": "sampler.temperature"}


def test_dotted_keys_set_nested_fields_and_strings_are_parsed_to_their_types():
    config = build_config(Agent, {"horizon": "30", "sampler.temperature": "0.3", "sampler.kind": "uniform"})
    assert config.horizon == 30 and config.sampler.temperature == 0.3 and config.sampler.kind == "uniform"
    assert config.sampler.samples == 100 and type(config.sampler.temperature) is float


def test_a_resolved_config_read_back_as_nested_dicts_rebuilds_the_same_config():
    config = build_config(Agent, {"sampler.samples": "7", "verbose": "true"})
    assert build_config(Agent, dataclasses.asdict(config)) == config


def test_an_unknown_key_names_the_closest_keys_and_where_to_list_them():
    with pytest.raises(UserError, match=r"unknown config key 'sampler.temperatur' for pets; closest: sampler.temp"):
        build_config(Agent, {"sampler.temperatur": "1"}, "pets")
    with pytest.raises(UserError, match=r"'reverie list pets'"):
        build_config(Agent, {"horizn": "1"}, "pets")
    with pytest.raises(UserError, match=r"closest: horizon"):
        build_config(Agent, {"horizn": "1"})


def test_a_renamed_key_names_its_new_name():
    with pytest.raises(UserError, match=r"'planning_horizon' was renamed: use 'horizon'"):
        build_config(Agent, {"planning_horizon": "3"})
    with pytest.raises(UserError, match=r"use 'sampler.temperature'"):
        build_config(Agent, {"temp": "3"})


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"sampler": "3"}, "is a group of settings"),
        ({"sampler.temperature": "-1"}, "must be > 0"),  # the nested class's own check
        ({"sampler.kind": "beta"}, "must be one of gauss, uniform"),
        ({"horizon": "1.5"}, "expects int"),
        ({"verbose": "maybe"}, "expects true or false"),
        ({"sampler.samples": "3", "sampler": "4"}, "set both"),
    ],
)
def test_bad_values_are_one_line_user_errors(overrides, words):
    with pytest.raises(UserError, match=words):
        build_config(Agent, overrides)


def test_help_comes_from_metadata_or_the_comment_beside_above_or_below_the_field():
    assert field_help(Sampler) == {
        "temperature": "softmax temperature",
        "samples": "how many samples per step, over two comment lines",
        "kind": "from metadata",
    }
    assert field_help(Agent) == {"horizon": "steps looked ahead", "verbose": "written below its field",
                                 "sampler": "the planner's sampler"}  # fmt: skip


def test_config_keys_list_nested_keys_dotted_with_type_default_and_choices():
    keys = {info.key: info for info in config_keys(Agent)}
    assert list(keys) == ["horizon", "verbose", "sampler.temperature", "sampler.samples", "sampler.kind"]
    assert keys["sampler.kind"].choices == ("gauss", "uniform") and keys["sampler.kind"].default == "gauss"
    assert keys["horizon"].type == "int" and keys["sampler.samples"].help.startswith("how many")


@dataclass
class Walk:
    steps: int = 10  # steps per walk
    temperature: float = 1.0  # softness of the walk


@dataclass
class Jump:
    steps: int = 3  # steps per jump
    height: float = 2.0  # how high


@dataclass
class Planner:
    """A one_of group: the variant is chosen by name, its keys are dotted under the group."""

    mover: Walk | Jump = one_of({"walk": Walk, "jump": Jump}, "walk", {"jump": {"steps": 5}})  # how it moves


def test_a_one_of_group_is_chosen_by_name_and_its_keys_are_dotted():
    assert build_config(Planner, {}).mover == Walk()
    assert build_config(Planner, {"mover": "jump"}).mover == Jump(steps=5)  # the owner's default for jump
    chosen = build_config(Planner, {"mover": "jump", "mover.height": "4"}).mover
    assert chosen == Jump(steps=5, height=4.0)
    assert build_config(Planner, {"mover.temperature": "0.3"}).mover == Walk(temperature=0.3)


def test_a_one_of_group_reads_back_from_its_record():
    config = build_config(Planner, {"mover": "jump", "mover.height": "4"})
    record = config_record(config)
    assert record == {"mover": {"name": "jump", "steps": 5, "height": 4.0}}
    assert build_config(Planner, record) == config and variant_name(config, "mover") == "jump"


def test_a_key_of_another_variant_names_that_variant():
    with pytest.raises(
        UserError, match=r"'mover.height' belongs to mover jump, not to walk \(choose it with mover=jump"
    ):
        build_config(Planner, {"mover.height": "4"})
    with pytest.raises(UserError, match=r"'mover' must be one of walk, jump"):
        build_config(Planner, {"mover": "fly"})


def test_every_variant_key_is_listed_with_its_variant_and_the_chosen_values():
    keys = {(info.key, info.variant): info for info in config_keys(Planner)}
    assert keys[("mover", None)].choices == ("walk", "jump") and keys[("mover", None)].default == "walk"
    assert keys[("mover.steps", "jump")].default == 5 and keys[("mover.height", "jump")].help == "how high"
    current = {(i.key, i.variant): i.default for i in current_keys(build_config(Planner, {"mover": "jump"}))}
    assert current[("mover", None)] == "jump" and current[("mover.steps", "walk")] == 10
