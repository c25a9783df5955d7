-- The original analysis: average age per major of the students strictly older than 20
-- (age > var('over_age'), 20 by default). Majors with no such student have no row.
with age_counts as (

    select * from {{ ref('int_major_age_counts') }}
    where age > {{ var('over_age') }}

),

final as (

    select
        major,
        sum(student_count) as student_count,
        sum(student_count * age) * 1.0 / sum(student_count) as avg_age
    from age_counts
    group by major

)

select * from final
order by major
