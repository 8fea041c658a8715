//! offsim-reports: report schema and renderers (filled by the reports issue).
