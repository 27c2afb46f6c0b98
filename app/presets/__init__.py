"""Sampler presets: YAML presets and SillyTavern / KoboldAI preset import."""

from app.presets.library import PresetLibrary, bundled_presets_dir, default_preset_name
from app.presets.model import Preset
from app.presets.sillytavern import (
    ImportReport,
    LostSetting,
    export_master,
    export_sillytavern,
    import_sillytavern,
    import_sillytavern_data,
)

__all__ = [
    "ImportReport",
    "LostSetting",
    "Preset",
    "PresetLibrary",
    "bundled_presets_dir",
    "default_preset_name",
    "export_master",
    "export_sillytavern",
    "import_sillytavern",
    "import_sillytavern_data",
]
