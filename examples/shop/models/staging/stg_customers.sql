-- materialized: merge
-- unique_key: customer_id
-- sequence_by: updated_at
-- incremental_on: [raw.web_customers, raw.pos_customers]
-- tags: [customers, staging]
-- description: Web accounts and POS loyalty accounts, one row per source customer, contacts normalised.

-- customer_id is the source's own id prefixed with the source's name and a colon, because the
-- two systems number their customers independently.
WITH delivered AS (
    SELECT
        'web:' || CAST(customer_id AS VARCHAR) AS customer_id,
        'web' AS source,
        CAST(customer_id AS VARCHAR) AS source_customer_id,
        trim(concat_ws(' ', first_name, last_name)) AS name,
        email AS raw_email,
        phone AS raw_phone,
        accepts_marketing,
        NULL::VARCHAR AS store_id,
        created_at,
        updated_at,
        event_id
    FROM raw.web_customers
    WHERE customer_id IS NOT NULL
    UNION ALL
    SELECT
        'pos:' || customer_id,
        'pos',
        customer_id,
        trim(name),
        email,
        phone,
        NULL::BOOLEAN,
        store_id,
        created_at,
        updated_at,
        event_id
    FROM raw.pos_customers
    WHERE customer_id IS NOT NULL
),

-- A batch can hold the creation and several updates of one customer (every order updates the
-- account): the latest state wins. event_id only breaks ties, to stay deterministic. Updates
-- also arrive late, after a newer state was merged: sequence_by keeps the newer one.
latest AS (
    SELECT *
    FROM delivered
    QUALIFY row_number() OVER (
        PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST, event_id
    ) = 1
)

SELECT
    customer_id,
    source,
    source_customer_id,
    name,
    -- The same normalisation as stg_orders, so that orders and customers match on it.
    CASE
        WHEN regexp_full_match(
            lower(trim(raw_email)), '[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}'
        ) THEN lower(trim(raw_email))
    END AS email,
    CASE
        WHEN length(regexp_replace(raw_phone, '[^0-9]', '', 'g')) >= 10
            THEN right(regexp_replace(raw_phone, '[^0-9]', '', 'g'), 10)
    END AS phone,
    accepts_marketing,
    store_id,
    created_at,
    updated_at
FROM latest
