-- materialized: table
-- tags: [customers, marts]
-- description: Per resolved customer, orders and revenue over all channels.

-- order_facts is append-only, so the customer_key stored on an old fact can be stale (a later
-- customer may have merged two clusters). Re-resolve through the current entities by the
-- linked customer_id and fall back to the stored key.
WITH refunded AS (
    SELECT order_id, sum(amount) AS refunded
    FROM staging.stg_refunds
    GROUP BY order_id
),

facts AS (
    SELECT
        coalesce(e.customer_key, f.customer_key) AS customer_key,
        f.source,
        f.amount,
        coalesce(r.refunded, 0) AS refunded,
        f.ordered_at
    FROM analytics.order_facts AS f
    LEFT JOIN semantic.customer_entities AS e ON e.customer_id = f.customer_id
    LEFT JOIN refunded AS r ON r.order_id = f.order_id
)

SELECT
    customer_key,
    count(*) AS orders,
    count(DISTINCT source) AS channels,
    CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue,
    CAST(sum(refunded) AS DECIMAL(18, 2)) AS refunds,
    CAST(sum(amount) AS DECIMAL(18, 2)) - CAST(sum(refunded) AS DECIMAL(18, 2)) AS net_revenue,
    min(ordered_at) AS first_order_at,
    max(ordered_at) AS last_order_at
FROM facts
WHERE customer_key IS NOT NULL
GROUP BY customer_key
