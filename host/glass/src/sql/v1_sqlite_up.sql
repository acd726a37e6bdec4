-- Glass AI tables on SQLite. Times are INTEGER ms since the epoch, JSON is TEXT (checked
-- with json_valid), booleans are 0/1. Users live in the security layer's token store
-- (`updated_by` holds a user name), not here.
CREATE TABLE production_lines (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    location    TEXT,
    status      TEXT,
    created_at  INTEGER NOT NULL
);
CREATE TABLE equipment (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL,
    production_line_id INTEGER REFERENCES production_lines (id),
    manufacturer       TEXT,
    serial_number      TEXT,
    status             TEXT,
    installed_at       INTEGER,
    properties         TEXT CHECK (properties IS NULL OR json_valid(properties)),
    created_at         INTEGER NOT NULL
);
CREATE INDEX equipment_line ON equipment (production_line_id);
CREATE TABLE sensors (
    id                 INTEGER PRIMARY KEY,
    sensor_id          TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL,
    production_line_id INTEGER REFERENCES production_lines (id),
    equipment_id       INTEGER REFERENCES equipment (id),
    location           TEXT,
    unit               TEXT,
    min_value          REAL,
    max_value          REAL,
    "precision"        INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX sensors_line ON sensors (production_line_id);
CREATE INDEX sensors_type ON sensors (type);
CREATE TABLE ai_models (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    version     TEXT NOT NULL,
    task        TEXT,
    description TEXT,
    parameters  TEXT CHECK (parameters IS NULL OR json_valid(parameters)),
    created_at  INTEGER NOT NULL
);
CREATE TABLE configurations (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_by TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (scope, key)
);
CREATE TABLE predictions (
    id                 INTEGER PRIMARY KEY,
    model_name         TEXT NOT NULL,
    model_id           INTEGER REFERENCES ai_models (id),
    production_line_id INTEGER REFERENCES production_lines (id),
    "timestamp"        INTEGER NOT NULL,
    input_data         TEXT CHECK (input_data IS NULL OR json_valid(input_data)),
    prediction         TEXT CHECK (prediction IS NULL OR json_valid(prediction)),
    confidence         REAL,
    actual_result      TEXT CHECK (actual_result IS NULL OR json_valid(actual_result)),
    accuracy           INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX predictions_time ON predictions ("timestamp");
CREATE INDEX predictions_model_time ON predictions (model_name, "timestamp");
CREATE INDEX predictions_line_time ON predictions (production_line_id, "timestamp");
CREATE TABLE recommendations (
    id                 INTEGER PRIMARY KEY,
    production_line_id INTEGER REFERENCES production_lines (id),
    equipment_id       INTEGER REFERENCES equipment (id),
    prediction_id      INTEGER,
    "timestamp"        INTEGER NOT NULL,
    type               TEXT NOT NULL,
    message            TEXT NOT NULL,
    priority           INTEGER,
    status             TEXT,
    parameters         TEXT CHECK (parameters IS NULL OR json_valid(parameters)),
    created_at         INTEGER NOT NULL
);
CREATE INDEX recommendations_line_time ON recommendations (production_line_id, "timestamp");
CREATE TABLE defects (
    id                 INTEGER PRIMARY KEY,
    production_line_id INTEGER REFERENCES production_lines (id),
    equipment_id       INTEGER REFERENCES equipment (id),
    prediction_id      INTEGER,
    "timestamp"        INTEGER NOT NULL,
    type               TEXT NOT NULL,
    severity           TEXT,
    confidence         REAL,
    camera             TEXT,
    details            TEXT CHECK (details IS NULL OR json_valid(details)),
    created_at         INTEGER NOT NULL
);
CREATE INDEX defects_line_time ON defects (production_line_id, "timestamp");
CREATE INDEX defects_type_time ON defects (type, "timestamp");
CREATE TABLE quality_metrics (
    id                 INTEGER PRIMARY KEY,
    model_name         TEXT NOT NULL,
    model_id           INTEGER REFERENCES ai_models (id),
    production_line_id INTEGER REFERENCES production_lines (id),
    period_start       INTEGER NOT NULL,
    period_end         INTEGER NOT NULL,
    metric             TEXT NOT NULL,
    value              REAL NOT NULL,
    samples            INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX quality_metrics_model ON quality_metrics (model_name, period_start);
CREATE TABLE performance_logs (
    id          INTEGER PRIMARY KEY,
    "timestamp" INTEGER NOT NULL,
    component   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    duration_ms REAL,
    level       TEXT,
    details     TEXT CHECK (details IS NULL OR json_valid(details)),
    created_at  INTEGER NOT NULL
);
CREATE INDEX performance_logs_time ON performance_logs ("timestamp");
CREATE INDEX performance_logs_component ON performance_logs (component, "timestamp");
