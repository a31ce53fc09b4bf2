-- Access to the registry over the network: bearer tokens (stored only as hashes), the audit of
-- every read of a patient's data, and indexes for finding a patient without a citizen ID.
-- depends: 0001_initial

CREATE TABLE api_token (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role            text NOT NULL CHECK (role IN ('clinician', 'steward', 'facility', 'admin')),
    -- A facility token posts extracts for this facility only.
    facility_code   text REFERENCES facility (code),
    -- SHA-256 of the secret: tokens are 256-bit random, so a slow hash adds nothing.
    token_hash      text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- The first characters of the token, so people can tell tokens apart without the secret.
    token_prefix    text NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    revoked_by      text,
    CHECK ((role = 'facility') = (facility_code IS NOT NULL))
);

-- Who read which master patient's data, how, when and why (Circular 13/2025/TT-BYT: an audit trail
-- of every view). Append-only: the trigger below refuses updates and deletes.
CREATE TABLE patient_access (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    accessed_at         timestamptz NOT NULL DEFAULT now(),
    token_id            bigint NOT NULL REFERENCES api_token (id),
    actor               text NOT NULL,
    role                text NOT NULL,
    master_patient_id   bigint NOT NULL,
    operation           text NOT NULL,
    purpose             text NOT NULL,
    request_id          text NOT NULL
);
CREATE INDEX patient_access_by_patient ON patient_access (master_patient_id, id DESC);
CREATE INDEX patient_access_by_token ON patient_access (token_id, id DESC);

CREATE FUNCTION patient_access_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'patient_access is append-only';
END;
$$;
CREATE TRIGGER patient_access_append_only BEFORE UPDATE OR DELETE ON patient_access
    FOR EACH ROW EXECUTE FUNCTION patient_access_is_append_only();

-- A name folded for search: tone and vowel marks removed, lower case, đ -> d (which has no Unicode
-- decomposition). Letters are mapped before lower() so the result does not depend on the
-- database's locale. Input is NFC (the loaders normalise text). The API folds the search input with
-- this same function, so both sides always agree.
CREATE FUNCTION fold_name(name text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN
    lower(translate(
        name,
        'àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴÈÉẸẺẼÊỀẾỆỂỄÌÍỊỈĨÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠÙÚỤỦŨƯỪỨỰỬỮỲÝỴỶỸĐ',
        'aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyydaaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd'
    ));

CREATE INDEX source_patient_by_folded_name ON source_patient (fold_name(full_name), birth_year);
CREATE INDEX source_patient_by_phone ON source_patient (phone) WHERE phone IS NOT NULL;
CREATE INDEX source_patient_by_social_insurance ON source_patient (social_insurance_number)
    WHERE social_insurance_number IS NOT NULL;
