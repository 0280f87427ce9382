"""The titles reading pages show without importing torch match the registries'."""

from tlcompare.data import DATASETS
from tlcompare.models import list_models
from tlcompare.text.setup import DATASET_TITLES, MODEL_TITLES, dataset_title, model_title


def test_titles_match_the_registries():
    assert {m.name: m.title for m in list_models()} == MODEL_TITLES
    assert {name: info.title for name, info in DATASETS.items()} == DATASET_TITLES


def test_unknown_names_stay_as_they_are():
    assert model_title("gone_model") == "gone_model"
    assert dataset_title({"dataset": "imagefolder:/data/cats"}, {"dataset": "cats"}) == "cats"
