-- materialized: view
-- tags: [orders, staging]
-- description: Web and POS order events in one shape, typed, each with the reasons it cannot be used (empty when it can).

-- Not stored: stg_orders keeps the rows without a reason and stg_order_rejects the others, so
-- the parsing lives here once and the two always split the events exactly. Both read the raw
-- tables through this view incrementally.
WITH web AS (
    SELECT
        event_id,
        order_id,
        'web' AS source,
        'web:' || CAST(customer_id AS VARCHAR) AS customer_id,
        email AS raw_email,
        phone AS raw_phone,
        amount AS raw_amount,
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
)

SELECT
    *,
    -- Every failed check, not just the first, so one look tells what is wrong.
    concat_ws(
        '; ',
        CASE WHEN event_id IS NULL THEN 'missing event_id' END,
        CASE WHEN order_id IS NULL THEN 'missing order_id' END,
        CASE
            WHEN raw_amount IS NULL THEN 'missing amount'
            WHEN amount IS NULL OR NOT isfinite(amount)
                THEN 'amount ''' || raw_amount || ''' is not a number'
        END,
        CASE WHEN ordered_at IS NULL THEN 'missing ordered_at' END
    ) AS reason
FROM delivered
