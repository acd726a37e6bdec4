-- Glass AI tables on PostgreSQL (in the configured schema, the search_path of the
-- migration). Times are BIGINT ms since the epoch, as in Clio's series tables; JSON is JSONB
-- with GIN indexes where people search it; predictions and performance_logs are range
-- partitioned by time (partitions of `partition_days` are made ahead at start-up; rows
-- outside them land in the DEFAULT partition), so their primary keys include the time.
CREATE TABLE production_lines (
    id          BIGSERIAL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    description TEXT,
    location    VARCHAR(200),
    status      VARCHAR(20),
    created_at  BIGINT NOT NULL
);
CREATE TABLE equipment (
    id                 BIGSERIAL PRIMARY KEY,
    name               VARCHAR(100) NOT NULL,
    type               VARCHAR(50) NOT NULL,
    production_line_id BIGINT REFERENCES production_lines (id),
    manufacturer       VARCHAR(100),
    serial_number      VARCHAR(100),
    status             VARCHAR(20),
    installed_at       BIGINT,
    properties         JSONB,
    created_at         BIGINT NOT NULL
);
CREATE INDEX equipment_line ON equipment (production_line_id);
CREATE TABLE sensors (
    id                 BIGSERIAL PRIMARY KEY,
    sensor_id          VARCHAR(50) NOT NULL UNIQUE,
    name               VARCHAR(100) NOT NULL,
    type               VARCHAR(50) NOT NULL,
    production_line_id BIGINT REFERENCES production_lines (id),
    equipment_id       BIGINT REFERENCES equipment (id),
    location           TEXT,
    unit               VARCHAR(20),
    min_value          DOUBLE PRECISION,
    max_value          DOUBLE PRECISION,
    "precision"        BIGINT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX sensors_line ON sensors (production_line_id);
CREATE INDEX sensors_type ON sensors (type);
CREATE TABLE ai_models (
    id          BIGSERIAL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    version     VARCHAR(50) NOT NULL,
    task        VARCHAR(20),
    description TEXT,
    parameters  JSONB,
    created_at  BIGINT NOT NULL
);
CREATE TABLE configurations (
    id         BIGSERIAL PRIMARY KEY,
    scope      VARCHAR(100) NOT NULL,
    key        VARCHAR(200) NOT NULL,
    value      JSONB NOT NULL,
    updated_by VARCHAR(100),
    created_at BIGINT NOT NULL,
    UNIQUE (scope, key)
);
CREATE TABLE predictions (
    id                 BIGSERIAL,
    model_name         VARCHAR(100) NOT NULL,
    model_id           BIGINT REFERENCES ai_models (id),
    production_line_id BIGINT REFERENCES production_lines (id),
    "timestamp"        BIGINT NOT NULL,
    input_data         JSONB,
    prediction         JSONB,
    confidence         DOUBLE PRECISION,
    actual_result      JSONB,
    accuracy           BOOLEAN,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");
CREATE TABLE predictions_default PARTITION OF predictions DEFAULT;
CREATE INDEX predictions_id ON predictions (id);
CREATE INDEX predictions_time ON predictions ("timestamp");
CREATE INDEX predictions_model_time ON predictions (model_name, "timestamp");
CREATE INDEX predictions_line_time ON predictions (production_line_id, "timestamp");
CREATE INDEX predictions_input_gin ON predictions USING GIN (input_data);
CREATE INDEX predictions_prediction_gin ON predictions USING GIN (prediction);
CREATE INDEX predictions_actual_gin ON predictions USING GIN (actual_result);
CREATE TABLE recommendations (
    id                 BIGSERIAL PRIMARY KEY,
    production_line_id BIGINT REFERENCES production_lines (id),
    equipment_id       BIGINT REFERENCES equipment (id),
    prediction_id      BIGINT,
    "timestamp"        BIGINT NOT NULL,
    type               VARCHAR(50) NOT NULL,
    message            TEXT NOT NULL,
    priority           BIGINT,
    status             VARCHAR(20),
    parameters         JSONB,
    created_at         BIGINT NOT NULL
);
CREATE INDEX recommendations_line_time ON recommendations (production_line_id, "timestamp");
CREATE TABLE defects (
    id                 BIGSERIAL PRIMARY KEY,
    production_line_id BIGINT REFERENCES production_lines (id),
    equipment_id       BIGINT REFERENCES equipment (id),
    prediction_id      BIGINT,
    "timestamp"        BIGINT NOT NULL,
    type               VARCHAR(50) NOT NULL,
    severity           VARCHAR(20),
    confidence         DOUBLE PRECISION,
    camera             VARCHAR(100),
    details            JSONB,
    created_at         BIGINT NOT NULL
);
CREATE INDEX defects_line_time ON defects (production_line_id, "timestamp");
CREATE INDEX defects_type_time ON defects (type, "timestamp");
CREATE INDEX defects_details_gin ON defects USING GIN (details);
CREATE TABLE quality_metrics (
    id                 BIGSERIAL PRIMARY KEY,
    model_name         VARCHAR(100) NOT NULL,
    model_id           BIGINT REFERENCES ai_models (id),
    production_line_id BIGINT REFERENCES production_lines (id),
    period_start       BIGINT NOT NULL,
    period_end         BIGINT NOT NULL,
    metric             VARCHAR(50) NOT NULL,
    value              DOUBLE PRECISION NOT NULL,
    samples            BIGINT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX quality_metrics_model ON quality_metrics (model_name, period_start);
CREATE TABLE performance_logs (
    id          BIGSERIAL,
    "timestamp" BIGINT NOT NULL,
    component   VARCHAR(100) NOT NULL,
    operation   VARCHAR(100) NOT NULL,
    duration_ms DOUBLE PRECISION,
    level       VARCHAR(10),
    details     JSONB,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");
CREATE TABLE performance_logs_default PARTITION OF performance_logs DEFAULT;
CREATE INDEX performance_logs_id ON performance_logs (id);
CREATE INDEX performance_logs_time ON performance_logs ("timestamp");
CREATE INDEX performance_logs_component ON performance_logs (component, "timestamp");
