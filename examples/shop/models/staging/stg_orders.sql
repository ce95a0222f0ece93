-- materialized: merge
-- unique_key: event_id
-- tags: [orders, staging]
-- description: Web and POS orders, typed and deduplicated; rows that do not convert go to stg_order_rejects.

-- A duplicate delivery carries the same event_id and payload; keep the first one received.
-- Duplicates arriving in a later batch are absorbed by the merge on event_id, which finds an
-- identical row (received_at is deliberately not a column of this model).
WITH usable AS (
    SELECT *
    FROM staging.parsed_orders
    WHERE reason = ''
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
FROM usable
