-- materialized: table
-- tags: [customers, marts, quality]
-- description: How many orders entity resolution could attach to a customer.

SELECT
    count(*) AS orders,
    count(customer_key) AS linked_orders,
    -- NULL on an empty fact table rather than a division by zero.
    CAST(count(customer_key) AS DOUBLE) / nullif(count(*), 0) AS coverage
FROM analytics.order_facts
