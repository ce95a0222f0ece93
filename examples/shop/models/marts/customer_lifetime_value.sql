-- materialized: merge
-- unique_key: customer_key
-- incremental_on: [analytics.order_facts, semantic.customer_entities, staging.stg_refunds]
-- delete_when: orders IS NULL
-- tags: [customers, marts]
-- description: Per resolved customer, orders and revenue over all channels.

-- order_facts is append-only, so the customer_key stored on an old fact can be stale (a later
-- customer may have merged two clusters). Facts are re-resolved through the current entities by
-- the linked customer_id (every linked fact has one, and entities are never removed).
--
-- Incremental: the plain names are the new rows (new facts, re-resolved customers, new
-- refunds), whole.* are everything. Only the customers those rows touch are computed again:
-- the customer of each new fact, both the cluster a re-resolved customer is in now and the one
-- it was in (its own id may have been that cluster's key), and the customer of each newly
-- refunded order. A touched key no longer owning any fact (its cluster merged into another)
-- comes out with no orders, and delete_when removes its row. On a full run every customer
-- is touched and such rows are simply left out.
WITH touched AS (
    SELECT e.customer_key
    FROM analytics.order_facts AS f
    JOIN whole.semantic.customer_entities AS e ON e.customer_id = f.customer_id
    UNION
    SELECT customer_key FROM semantic.customer_entities
    UNION
    SELECT customer_id FROM semantic.customer_entities
    UNION
    SELECT e.customer_key
    FROM whole.analytics.order_facts AS f
    JOIN whole.semantic.customer_entities AS e ON e.customer_id = f.customer_id
    WHERE f.order_id IN (SELECT order_id FROM staging.stg_refunds)
),

members AS (
    SELECT customer_id, customer_key
    FROM whole.semantic.customer_entities
    WHERE customer_key IN (SELECT customer_key FROM touched)
),

refunded AS (
    SELECT order_id, sum(amount) AS refunded
    FROM whole.staging.stg_refunds
    GROUP BY order_id
),

facts AS (
    SELECT
        m.customer_key,
        f.source,
        f.amount,
        coalesce(r.refunded, 0) AS refunded,
        f.ordered_at
    FROM whole.analytics.order_facts AS f
    JOIN members AS m ON m.customer_id = f.customer_id
    LEFT JOIN refunded AS r ON r.order_id = f.order_id
),

per_customer AS (
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
    GROUP BY customer_key
)

SELECT t.customer_key, p.* EXCLUDE (customer_key)
FROM (SELECT DISTINCT customer_key FROM touched WHERE customer_key IS NOT NULL) AS t
LEFT JOIN per_customer AS p ON p.customer_key = t.customer_key
