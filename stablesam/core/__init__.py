"""Base utilities below every other package: validation at the boundary, atomic file output, the verified store, progress
reporting and the one table of methods. Imports nothing from the project (``core -> theory -> stability -> analysis -> CLI``)."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so every layer
# can import it without paying for the others.
_EXPORTS = {
    **dict.fromkeys(
        ("Boolean", "Constraint", "Interval", "NoneValue", "Options", "Satisfies", "validate_parameters"),
        "stablesam.core.constraints",
    ),
    "lazy_exports": "stablesam.core.exports",
    **dict.fromkeys(
        ("atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"),
        "stablesam.core.io",
    ),
    **dict.fromkeys(("DirectoryLock", "LOCK_FILE", "directory_lock"), "stablesam.core.lock"),
    **dict.fromkeys(
        ("Ascent", "DEFAULT_RHO", "METHODS", "Method", "OKABE_ITO", "method", "method_keys"), "stablesam.core.methods"
    ),
    **dict.fromkeys(("check_output_dir", "check_output_file"), "stablesam.core.paths"),
    **dict.fromkeys(("ProgressMode", "progress_mode"), "stablesam.core.progress"),
    "schema_errors": "stablesam.core.schema",
    **dict.fromkeys(
        (
            "UsageError", "check_array", "check_choice", "check_finite", "check_in_range", "check_integer",
            "check_nonnegative", "check_positive", "check_probability",
        ),
        "stablesam.core.validation",
    ),
    "DiskFull": "stablesam.core.io",
    **dict.fromkeys(
        ("DAMAGED", "MANIFEST", "Store", "disk_full", "notice", "sha256_bytes", "sha256_file"), "stablesam.core.store"
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
