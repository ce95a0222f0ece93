-- materialized: append
-- incremental_on: [raw.web_orders, raw.pos_orders]
-- tags: [orders, staging, quality]
-- description: The order events stg_orders drops, with the reasons why.

-- Appended once per delivery batch, so an event rejected again when it is re-delivered in a later
-- batch appears again (with its new received_at), which is what an operator wants to see.
WITH web AS (
    SELECT
        event_id,
        order_id,
        'web' AS source,
        amount AS raw_amount,
        -- Must stay the same conversion as in stg_orders.sql.
        CASE
            WHEN regexp_full_match(trim(amount), '\$?[0-9]+(\.[0-9]+)?')
                THEN TRY_CAST(ltrim(trim(amount), '$') AS DOUBLE)
            WHEN regexp_full_match(trim(amount), '\$?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?')
                THEN TRY_CAST(replace(ltrim(trim(amount), '$'), ',', '') AS DOUBLE)
            WHEN regexp_full_match(trim(amount), '\$?[0-9]+,[0-9]{1,2}')
                THEN TRY_CAST(replace(ltrim(trim(amount), '$'), ',', '.') AS DOUBLE)
        END AS amount,
        ordered_at,
        received_at
    FROM raw.web_orders
),

pos AS (
    SELECT
        event_id,
        order_id,
        'pos' AS source,
        CAST(amount_cents AS VARCHAR) AS raw_amount,
        CAST(amount_cents AS DOUBLE) / 100 AS amount,
        ordered_at,
        received_at
    FROM raw.pos_orders
),

checked AS (
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
    FROM (
        SELECT * FROM web
        UNION ALL
        SELECT * FROM pos
    ) AS delivered
)

SELECT event_id, order_id, source, raw_amount, ordered_at, received_at, reason
FROM checked
WHERE reason <> ''
-- One row per event within the batch, like stg_orders (events without an id are all kept).
QUALIFY event_id IS NULL
     OR row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
