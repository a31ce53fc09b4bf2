-- provreg initial schema: facilities, ingest batches, source records (facts, versioned),
-- master identities and links (opinions, with history), and clinical rows.
--
-- Citus-ready choices (see README): clinical rows carry source_patient_id (their future
-- distribution column) so a merge or split of identities never moves clinical data;
-- child rows of an encounter have no foreign key (they are written only by the set-based
-- ingest, in the same transaction as their encounter).
-- depends:

CREATE TABLE facility (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{5}$'),
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'unknown'
                CHECK (kind IN ('hospital', 'medical_centre', 'clinic', 'central_hospital', 'unknown')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest_batch (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_code   text REFERENCES facility (code),
    channel         text NOT NULL CHECK (channel IN ('cli', 'http')),
    submitted_by    text NOT NULL,
    filename        text,
    content_sha256  text NOT NULL,
    size_bytes      bigint NOT NULL,
    format          text,
    status          text NOT NULL CHECK (status IN ('received', 'loading', 'loaded', 'rejected', 'failed')),
    error           text,
    records_in      integer NOT NULL DEFAULT 0,
    loaded          integer NOT NULL DEFAULT 0,
    updated         integer NOT NULL DEFAULT 0,
    unchanged       integer NOT NULL DEFAULT 0,
    rejected        integer NOT NULL DEFAULT 0,
    skipped_tables  jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CHECK (status <> 'loaded' OR records_in = loaded + updated + unchanged + rejected)
);
-- A file's content is loaded at most once: a re-sent file is recognised by its hash.
CREATE UNIQUE INDEX ingest_batch_loaded_once ON ingest_batch (content_sha256) WHERE status = 'loaded';
CREATE INDEX ingest_batch_by_facility ON ingest_batch (facility_code, received_at DESC);

CREATE TABLE ingest_reject (
    batch_id        bigint NOT NULL REFERENCES ingest_batch (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    locator         text NOT NULL,
    reason          text NOT NULL,
    excerpt         text NOT NULL DEFAULT '',
    local_id        text,
    encounter_key   text,
    PRIMARY KEY (batch_id, position)
);

CREATE TABLE source_patient (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_code           text NOT NULL REFERENCES facility (code),
    local_id                text NOT NULL,
    full_name               text NOT NULL,
    birth_year              smallint,
    birth_month             smallint,
    birth_day               smallint,
    sex                     smallint CHECK (sex IN (1, 2, 3)),
    citizen_id              text CHECK (citizen_id ~ '^\d{12}$'),
    old_id_number           text,
    passport_number         text,
    insurance_cards         text[] NOT NULL DEFAULT '{}',
    social_insurance_number text,
    phone                   text,
    address_text            text,
    province_code           text,
    district_code           text,
    commune_code            text,
    nationality_code        text,
    ethnicity_code          text,
    occupation_code         text,
    content_sha256          text NOT NULL,
    version                 integer NOT NULL DEFAULT 1,
    first_batch_id          bigint NOT NULL,
    last_batch_id           bigint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_code, local_id)
);
CREATE INDEX source_patient_by_citizen_id ON source_patient (citizen_id) WHERE citizen_id IS NOT NULL;

-- Every version of a source patient's demographics as the facility sent it, the current one included.
CREATE TABLE source_patient_version (
    source_patient_id   bigint NOT NULL REFERENCES source_patient (id),
    version             integer NOT NULL,
    batch_id            bigint NOT NULL,
    demographics        jsonb NOT NULL,
    content_sha256      text NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_patient_id, version)
);

CREATE TABLE master_patient (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    citizen_id                      text UNIQUE CHECK (citizen_id ~ '^\d{12}$'),
    founded_by_source_patient_id    bigint,
    created_at                      timestamptz NOT NULL DEFAULT now()
);

-- Links are opinions with history: a change supersedes the current row, never rewrites it.
CREATE TABLE patient_link (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_patient_id   bigint NOT NULL REFERENCES source_patient (id),
    master_patient_id   bigint NOT NULL REFERENCES master_patient (id),
    method              text NOT NULL CHECK (method IN ('citizen_id', 'new_identity', 'score', 'steward')),
    score               double precision,
    explanation         jsonb,
    decided_by          text NOT NULL,
    batch_id            bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    superseded_at       timestamptz,
    superseded_by       bigint
);
CREATE UNIQUE INDEX patient_link_current ON patient_link (source_patient_id) WHERE superseded_at IS NULL;
CREATE INDEX patient_link_by_master ON patient_link (master_patient_id) WHERE superseded_at IS NULL;

CREATE TABLE encounter (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_code               text NOT NULL REFERENCES facility (code),
    encounter_key               text NOT NULL,
    source_patient_id           bigint NOT NULL REFERENCES source_patient (id),
    record_number               text,
    visit_type                  text,
    admitted_at                 timestamp,
    inpatient_at                timestamp,
    discharged_at               timestamp,
    departments                 text[] NOT NULL DEFAULT '{}',
    outcome                     smallint,
    discharge_type              smallint,
    referred_from               text,
    referred_to                 text,
    referral_paper              text,
    admission_diagnosis_text    text,
    discharge_diagnosis_text    text,
    procedures                  text[] NOT NULL DEFAULT '{}',
    content_sha256              text NOT NULL,
    version                     integer NOT NULL DEFAULT 1,
    first_batch_id              bigint NOT NULL,
    last_batch_id               bigint NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_code, encounter_key)
);
CREATE INDEX encounter_by_patient ON encounter (source_patient_id, admitted_at DESC);

-- Every version of an episode as sent (patient as recorded at that episode + the episode), current included.
CREATE TABLE encounter_version (
    encounter_id    bigint NOT NULL REFERENCES encounter (id),
    version         integer NOT NULL,
    batch_id        bigint NOT NULL,
    record          jsonb NOT NULL,
    content_sha256  text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (encounter_id, version)
);

CREATE TABLE diagnosis (
    encounter_id        bigint NOT NULL,
    source_patient_id   bigint NOT NULL,
    ordinal             smallint NOT NULL,
    code                text NOT NULL,
    is_main             boolean NOT NULL,
    text                text,
    PRIMARY KEY (encounter_id, ordinal)
);
CREATE INDEX diagnosis_by_code ON diagnosis (code);

CREATE TABLE medication (
    encounter_id        bigint NOT NULL,
    source_patient_id   bigint NOT NULL,
    ordinal             integer NOT NULL,
    code                text,
    name                text,
    strength            text,
    dosage              text,
    route               text,
    quantity            numeric,
    unit                text,
    ordered_at          timestamp,
    performed_at        timestamp,
    PRIMARY KEY (encounter_id, ordinal)
);

CREATE TABLE service (
    encounter_id        bigint NOT NULL,
    source_patient_id   bigint NOT NULL,
    ordinal             integer NOT NULL,
    code                text,
    supply_code         text,
    name                text,
    quantity            numeric,
    ordered_at          timestamp,
    performed_at        timestamp,
    result_at           timestamp,
    PRIMARY KEY (encounter_id, ordinal)
);

CREATE TABLE lab_result (
    encounter_id        bigint NOT NULL,
    source_patient_id   bigint NOT NULL,
    ordinal             integer NOT NULL,
    service_code        text,
    code                text,
    name                text,
    value               text,
    unit                text,
    description         text,
    conclusion          text,
    result_at           timestamp,
    PRIMARY KEY (encounter_id, ordinal)
);
CREATE INDEX lab_result_series ON lab_result (source_patient_id, code, result_at);

CREATE TABLE progress_note (
    encounter_id        bigint NOT NULL,
    source_patient_id   bigint NOT NULL,
    ordinal             integer NOT NULL,
    text                text,
    stage               text,
    consultation        text,
    surgery             text,
    recorded_at         timestamp,
    author              text,
    PRIMARY KEY (encounter_id, ordinal)
);
