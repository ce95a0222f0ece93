-- materialized: merge
-- unique_key: event_id
-- incremental_on: [raw.web_orders, raw.pos_orders]
-- tags: [orders, staging]
-- description: Web and POS orders, typed and deduplicated; rows that do not convert go to stg_order_rejects.

-- The parsing below is repeated in stg_order_rejects.sql, which keeps exactly the rows this
-- model drops, so change both together.
WITH web AS (
    SELECT
        event_id,
        order_id,
        'web' AS source,
        'web:' || CAST(customer_id AS VARCHAR) AS customer_id,
        email AS raw_email,
        phone AS raw_phone,
        trim(amount) AS raw_amount,
        -- Three spellings of a number, each matched whole so that "12.5.0" or "1,2,3" fail
        -- instead of being read as something else. A comma is a thousands separator only in
        -- groups of three ("1,234.50"); one or two digits after it make it a decimal comma.
        CASE
            WHEN regexp_full_match(trim(amount), '\$?[0-9]+(\.[0-9]+)?')
                THEN TRY_CAST(ltrim(trim(amount), '$') AS DOUBLE)
            WHEN regexp_full_match(trim(amount), '\$?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?')
                THEN TRY_CAST(replace(ltrim(trim(amount), '$'), ',', '') AS DOUBLE)
            WHEN regexp_full_match(trim(amount), '\$?[0-9]+,[0-9]{1,2}')
                THEN TRY_CAST(replace(ltrim(trim(amount), '$'), ',', '.') AS DOUBLE)
        END AS amount,
        NULL::VARCHAR AS store_id,
        ordered_at,
        received_at
    FROM raw.web_orders
),

pos AS (
    SELECT
        event_id,
        order_id,
        'pos' AS source,
        'pos:' || customer_id AS customer_id,
        email AS raw_email,
        phone AS raw_phone,
        CAST(amount_cents AS VARCHAR) AS raw_amount,
        CAST(amount_cents AS DOUBLE) / 100 AS amount,
        store_id,
        ordered_at,
        received_at
    FROM raw.pos_orders
),

delivered AS (
    SELECT * FROM web
    UNION ALL
    SELECT * FROM pos
),

-- A duplicate delivery carries the same event_id and payload; keep the first one received.
-- Duplicates arriving in a later batch are absorbed by the merge on event_id, which finds an
-- identical row (received_at is deliberately not a column of this model).
deduplicated AS (
    SELECT *
    FROM delivered
    WHERE event_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
)

SELECT
    event_id,
    order_id,
    source,
    customer_id,
    -- An address that is not valid after lower/trim is unusable for matching: NULL, not dirt.
    CASE
        WHEN regexp_full_match(
            lower(trim(raw_email)), '[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}'
        ) THEN lower(trim(raw_email))
    END AS email,
    -- Digits only; the last ten drop a +1 country code. Fewer than ten is a local number that
    -- cannot identify anyone.
    CASE
        WHEN length(regexp_replace(raw_phone, '[^0-9]', '', 'g')) >= 10
            THEN right(regexp_replace(raw_phone, '[^0-9]', '', 'g'), 10)
    END AS phone,
    amount,
    store_id,
    ordered_at
FROM deduplicated
WHERE order_id IS NOT NULL
  AND amount IS NOT NULL
  AND isfinite(amount)
  AND ordered_at IS NOT NULL
