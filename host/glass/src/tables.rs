//! What the API knows about each table at the current schema version: columns, their kinds,
//! limits, references, which ones can be filtered and sorted on. The DDL itself lives in the
//! versioned migrations (`migrations.rs`); `tests` checks the two agree on both engines.

use crate::value::Kind;

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name, in SQL and in JSON.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Longest text, in characters.
    pub max_len: Option<usize>,
    /// Must be given on create and may not be set to null.
    pub required: bool,
    /// The table whose `id` it refers to.
    pub references: Option<&'static str>,
    /// Unique across the table.
    pub unique: bool,
    /// Inclusive bounds of a number.
    pub range: Option<(f64, f64)>,
    /// Set by the server (`id`, `created_at`), never by the client.
    pub auto: bool,
    /// Can be sorted on (every column but JSON ones; NULLs sort last).
    pub sortable: bool,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        max_len: None,
        required: false,
        references: None,
        unique: false,
        range: None,
        auto: false,
        sortable: !matches!(kind, Kind::Json),
    }
}

impl Column {
    const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    const fn len(mut self, n: usize) -> Self {
        self.max_len = Some(n);
        self
    }
    const fn refs(mut self, table: &'static str) -> Self {
        self.references = Some(table);
        self
    }
    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    const fn range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
}

const ID: Column = Column {
    auto: true,
    sortable: true,
    ..col("id", Kind::Int)
};
const CREATED: Column = Column {
    auto: true,
    sortable: true,
    ..col("created_at", Kind::Time)
};

/// One table.
#[derive(Debug)]
pub struct Table {
    /// Its name, in SQL and in the URL (`/api/v1/{name}`).
    pub name: &'static str,
    /// Its columns, `id` first.
    pub columns: &'static [Column],
    /// The column `from`/`to` filter on (half-open `[from, to)`).
    pub time_column: &'static str,
    /// Short query names for columns people filter on: (`line`, `production_line_id`).
    pub aliases: &'static [(&'static str, &'static str)],
    /// Partitioned by `time_column` on PostgreSQL.
    pub partitioned: bool,
}

impl Table {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A column by name or alias.
    pub fn filter_column(&self, name: &str) -> Option<&'static Column> {
        let name = self
            .aliases
            .iter()
            .find(|(a, _)| *a == name)
            .map_or(name, |(_, c)| c);
        self.column(name)
    }
}

const LINE_ALIASES: &[(&str, &str)] = &[("line", "production_line_id")];

/// Every table, parents before children.
pub static TABLES: &[Table] = &[
    Table {
        name: "production_lines",
        columns: &[
            ID,
            col("name", Kind::Text).req().len(100).unique(),
            col("description", Kind::Text).len(2000),
            col("location", Kind::Text).len(200),
            col("status", Kind::Text).len(20),
            CREATED,
        ],
        time_column: "created_at",
        aliases: &[],
        partitioned: false,
    },
    Table {
        name: "equipment",
        columns: &[
            ID,
            col("name", Kind::Text).req().len(100),
            col("type", Kind::Text).req().len(50),
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("manufacturer", Kind::Text).len(100),
            col("serial_number", Kind::Text).len(100),
            col("status", Kind::Text).len(20),
            col("installed_at", Kind::Time),
            col("properties", Kind::Json),
            CREATED,
        ],
        time_column: "created_at",
        aliases: LINE_ALIASES,
        partitioned: false,
    },
    Table {
        name: "sensors",
        columns: &[
            ID,
            col("sensor_id", Kind::Text).req().len(50).unique(),
            col("name", Kind::Text).req().len(100),
            col("type", Kind::Text).req().len(50),
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("equipment_id", Kind::Int).refs("equipment"),
            col("location", Kind::Text).len(1000),
            col("unit", Kind::Text).len(20),
            col("min_value", Kind::Float),
            col("max_value", Kind::Float),
            col("precision", Kind::Int).range(0.0, 15.0),
            col("series_key", Kind::Text).len(1000),
            col("series_id", Kind::Int).range(0.0, 9.0e15),
            CREATED,
        ],
        time_column: "created_at",
        aliases: LINE_ALIASES,
        partitioned: false,
    },
    Table {
        name: "ai_models",
        columns: &[
            ID,
            col("name", Kind::Text).req().len(100).unique(),
            col("version", Kind::Text).req().len(50),
            col("task", Kind::Text).len(20),
            col("description", Kind::Text).len(2000),
            col("parameters", Kind::Json),
            CREATED,
        ],
        time_column: "created_at",
        aliases: &[],
        partitioned: false,
    },
    Table {
        name: "configurations",
        columns: &[
            ID,
            col("scope", Kind::Text).req().len(100),
            col("key", Kind::Text).req().len(200),
            col("value", Kind::Json).req(),
            col("updated_by", Kind::Text).len(100),
            CREATED,
        ],
        time_column: "created_at",
        aliases: &[],
        partitioned: false,
    },
    Table {
        name: "predictions",
        columns: &[
            ID,
            col("model_name", Kind::Text).req().len(100),
            col("model_id", Kind::Int).refs("ai_models"),
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("timestamp", Kind::Time).req(),
            col("input_data", Kind::Json),
            col("prediction", Kind::Json),
            col("confidence", Kind::Float).range(0.0, 1.0),
            col("actual_result", Kind::Json),
            col("accuracy", Kind::Bool),
            CREATED,
        ],
        time_column: "timestamp",
        aliases: &[("line", "production_line_id"), ("model", "model_name")],
        partitioned: true,
    },
    Table {
        name: "recommendations",
        columns: &[
            ID,
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("equipment_id", Kind::Int).refs("equipment"),
            col("prediction_id", Kind::Int),
            col("timestamp", Kind::Time).req(),
            col("type", Kind::Text).req().len(50),
            col("message", Kind::Text).req().len(2000),
            col("priority", Kind::Int).range(1.0, 5.0),
            col("status", Kind::Text).len(20),
            col("parameters", Kind::Json),
            CREATED,
        ],
        time_column: "timestamp",
        aliases: LINE_ALIASES,
        partitioned: false,
    },
    Table {
        name: "defects",
        columns: &[
            ID,
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("equipment_id", Kind::Int).refs("equipment"),
            col("prediction_id", Kind::Int),
            col("timestamp", Kind::Time).req(),
            col("type", Kind::Text).req().len(50),
            col("severity", Kind::Text).len(20),
            col("confidence", Kind::Float).range(0.0, 1.0),
            col("camera", Kind::Text).len(100),
            col("details", Kind::Json),
            CREATED,
        ],
        time_column: "timestamp",
        aliases: LINE_ALIASES,
        partitioned: false,
    },
    Table {
        name: "quality_metrics",
        columns: &[
            ID,
            col("model_name", Kind::Text).req().len(100),
            col("model_id", Kind::Int).refs("ai_models"),
            col("production_line_id", Kind::Int).refs("production_lines"),
            col("period_start", Kind::Time).req(),
            col("period_end", Kind::Time).req(),
            col("metric", Kind::Text).req().len(50),
            col("value", Kind::Float).req(),
            col("samples", Kind::Int).range(0.0, 9.0e15),
            CREATED,
        ],
        time_column: "period_start",
        aliases: &[("line", "production_line_id"), ("model", "model_name")],
        partitioned: false,
    },
    Table {
        name: "performance_logs",
        columns: &[
            ID,
            col("timestamp", Kind::Time).req(),
            col("component", Kind::Text).req().len(100),
            col("operation", Kind::Text).req().len(100),
            col("duration_ms", Kind::Float).range(0.0, 1.0e12),
            col("level", Kind::Text).len(10),
            col("details", Kind::Json),
            CREATED,
        ],
        time_column: "timestamp",
        aliases: &[],
        partitioned: true,
    },
];

/// The catalog of camera images (`images.rs`): served by `/api/v1/images`, not by the
/// generic table routes (its bytes are not a column), so not in [`TABLES`]. `content_hash`
/// (SHA-256, hex) and `size` are the server's.
pub static IMAGES: Table = Table {
    name: "images",
    columns: &[
        ID,
        col("camera", Kind::Text).req().len(100),
        col("production_line_id", Kind::Int).refs("production_lines"),
        col("captured_at", Kind::Time).req(),
        Column {
            auto: true,
            ..col("content_hash", Kind::Text)
        },
        Column {
            auto: true,
            ..col("size", Kind::Int)
        },
        col("content_type", Kind::Text).req().len(100),
        col("defect_id", Kind::Int).refs("defects"),
        CREATED,
    ],
    time_column: "captured_at",
    aliases: &[("line", "production_line_id"), ("defect", "defect_id")],
    partitioned: false,
};

/// A table by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}
