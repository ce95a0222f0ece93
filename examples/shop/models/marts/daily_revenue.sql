-- materialized: table
-- tags: [finance, marts]
-- description: Orders, gross, refunds and net revenue per UTC day.

-- Refunds count on the day they were paid out (cash basis), not on the order's day, and only
-- for orders we know, as a refund of an unknown order has no revenue to net against. Money is
-- DECIMAL(18,2) so that net = gross - refunds holds exactly.
WITH sales AS (
    SELECT order_date AS day, count(*) AS orders, sum(amount) AS gross
    FROM analytics.order_facts
    GROUP BY order_date
),

paid_out AS (
    SELECT CAST(timezone('UTC', r.refunded_at) AS DATE) AS day, sum(r.amount) AS refunds
    FROM staging.stg_refunds AS r
    WHERE r.order_id IN (SELECT order_id FROM analytics.order_facts)
    GROUP BY 1
),

days AS (
    SELECT
        coalesce(s.day, p.day) AS day,
        coalesce(s.orders, 0) AS orders,
        CAST(coalesce(s.gross, 0) AS DECIMAL(18, 2)) AS gross,
        CAST(coalesce(p.refunds, 0) AS DECIMAL(18, 2)) AS refunds
    FROM sales AS s
    FULL OUTER JOIN paid_out AS p ON p.day = s.day
)

SELECT day, orders, gross, refunds, gross - refunds AS net
FROM days
ORDER BY day
