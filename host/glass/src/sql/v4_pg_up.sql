-- Camera images (MIK-1) on PostgreSQL: the bytes in `bytea` chunks of 1 MiB
-- (`image_chunks`), one set per content hash (`image_blobs`) however many rows name it, so
-- that neither an upload nor a download ever holds a whole image in memory.
CREATE TABLE image_blobs (
    hash       VARCHAR(64) PRIMARY KEY,
    size       BIGINT NOT NULL,
    chunks     INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE image_chunks (
    hash VARCHAR(64) NOT NULL REFERENCES image_blobs (hash) ON DELETE CASCADE,
    seq  INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (hash, seq)
);
-- Camera images are compressed already: store them out of line without trying pglz.
ALTER TABLE image_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE images (
    id                 BIGSERIAL PRIMARY KEY,
    camera             VARCHAR(100) NOT NULL,
    production_line_id BIGINT REFERENCES production_lines (id),
    captured_at        BIGINT NOT NULL,
    content_hash       VARCHAR(64) NOT NULL REFERENCES image_blobs (hash),
    size               BIGINT NOT NULL,
    content_type       VARCHAR(100) NOT NULL,
    defect_id          BIGINT REFERENCES defects (id) ON DELETE SET NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX images_time ON images (captured_at);
CREATE INDEX images_camera_time ON images (camera, captured_at);
CREATE INDEX images_line_time ON images (production_line_id, captured_at);
CREATE INDEX images_hash ON images (content_hash);
CREATE INDEX images_defect ON images (defect_id);
