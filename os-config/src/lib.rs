//! The ros configuration model: typed cloud-config, layering, kernel cmdline, validation, atomic writes.
