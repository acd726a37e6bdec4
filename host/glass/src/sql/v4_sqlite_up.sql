-- Camera images (MIK-1): the catalog; the bytes are files under the data directory,
-- `images/<first two hex digits>/<other 62>` of their SHA-256, stored once however many rows
-- name them.
CREATE TABLE images (
    id                 INTEGER PRIMARY KEY,
    camera             TEXT NOT NULL,
    production_line_id INTEGER REFERENCES production_lines (id),
    captured_at        INTEGER NOT NULL,
    content_hash       TEXT NOT NULL,
    size               INTEGER NOT NULL,
    content_type       TEXT NOT NULL,
    defect_id          INTEGER REFERENCES defects (id) ON DELETE SET NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX images_time ON images (captured_at);
CREATE INDEX images_camera_time ON images (camera, captured_at);
CREATE INDEX images_line_time ON images (production_line_id, captured_at);
CREATE INDEX images_hash ON images (content_hash);
CREATE INDEX images_defect ON images (defect_id);
